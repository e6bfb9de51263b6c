import { createHash } from 'node:crypto';
import {
  type Dependency,
  DependencySchema,
  EnvDetectionError,
  type Notebook,
  parseCondaSpec,
  parseNotebook,
  parseNotebookJson,
  parseRequirement,
  type RequirementSource,
  readInlineDependencies,
  toDependency,
} from '@runyard/env-detection';
import canonicalize from 'canonicalize';
import { TrustError } from './errors.js';

/** Where a dependency's code would come from: an index, or a direct reference. */
export type DependencyOrigin = RequirementSource;

export interface NotebookDependency extends Dependency {
  origin: DependencyOrigin;
}

/** Everything trust needs from one notebook, computed once. */
export interface NotebookDependencies {
  notebook: Notebook;
  dependencies: NotebookDependency[];
  /** RFC 8785 canonical JSON of the normalised dependency metadata: what is signed. */
  payload: string;
  /** `sha256:<hex>` of `payload`: what a caller saw when it was asked to approve. */
  fingerprint: string;
}

/** Separates these signatures from any other HMAC made with the same key. */
const PAYLOAD_SCOPE = 'runyard.notebook-dependencies.v1';

/**
 * Sorts by canonical JSON, serialising each entry once (a comparator that serialised both
 * sides made sorting 50 dependencies cost most of evaluateTrust).
 */
function sortByJson<T>(entries: T[]): T[] {
  return entries
    .map((entry) => ({ entry, key: canonicalize(entry) ?? '' }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ entry }) => entry);
}

function canonicalPypi(spec: string): { entry: Record<string, unknown>; origin: DependencyOrigin } {
  const requirement = parseRequirement(spec);
  const extras = [
    ...new Set(requirement.extras.map((extra) => extra.toLowerCase().replace(/[-_.]+/g, '-'))),
  ].sort();
  const specifier = requirement.specifier === '' ? [] : requirement.specifier.split(',').sort();
  return {
    entry: {
      name: requirement.normalizedName,
      extras,
      specifier,
      ...(requirement.url !== undefined ? { url: requirement.url } : {}),
      ...(requirement.marker !== undefined
        ? { marker: requirement.marker.replace(/\s+/g, ' ') }
        : {}),
    },
    origin: requirement.source,
  };
}

function isDirectChannel(channel: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(channel) || /^(file:|\/|\.|~)/i.test(channel);
}

function canonicalConda(spec: string): {
  entry: Record<string, unknown>;
  origin: DependencyOrigin;
} {
  const parsed = parseCondaSpec(spec);
  const origin: DependencyOrigin =
    parsed.channel === undefined
      ? 'index'
      : /^file:|^[/.~]/i.test(parsed.channel)
        ? 'path'
        : isDirectChannel(parsed.channel)
          ? 'url'
          : 'index';
  return {
    entry: {
      name: parsed.normalizedName,
      ...(parsed.channel !== undefined ? { channel: parsed.channel } : {}),
      constraint: parsed.constraint.replace(/\s+/g, ' '),
    },
    origin,
  };
}

/** Copies a metadata section without `dependencies`, keeping keys such as `__proto__` as data. */
function otherKeys(section: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(section).filter(([key]) => key !== 'dependencies'));
}

function toTrustError(error: unknown): unknown {
  if (error instanceof EnvDetectionError) {
    return new TrustError(
      error.code === 'notebook_too_large' ? 'trust_metadata_too_large' : 'trust_metadata_invalid',
      error.message,
      { cause: error },
    );
  }
  return error;
}

/** Accepts a notebook object or its JSON text/bytes (the size limit applies before parsing). */
export function toNotebook(input: unknown): Notebook {
  try {
    if (typeof input === 'string' || input instanceof Uint8Array) return parseNotebookJson(input);
    return parseNotebook(input);
  } catch (error) {
    throw toTrustError(error);
  }
}

/**
 * Reads and normalises a notebook's inline dependency metadata (`metadata.uv`,
 * `metadata.conda`). Dependency lists become sorted lists of structured entries with
 * normalised names, so reordering or a name's case never matters but any change of a package,
 * version, extra, marker or URL does. Other keys of both sections (channels, requires-python,
 * anything unknown) are kept verbatim: they can change what gets installed. Cells and outputs
 * are not part of it.
 */
export function readNotebookDependencies(input: unknown): NotebookDependencies {
  const notebook = toNotebook(input);
  try {
    const inline = readInlineDependencies(notebook);
    const dependencies: NotebookDependency[] = [];
    const payload: Record<string, unknown> = { scope: PAYLOAD_SCOPE };
    const { uv, conda } = notebook.metadata;
    if (uv) {
      const entries = (inline.uv?.dependencies ?? []).map((dep) => {
        const { entry, origin } = canonicalPypi(dep.spec);
        dependencies.push({ ...dep, origin });
        return entry;
      });
      payload.uv = {
        ...otherKeys(uv),
        ...(uv.dependencies ? { dependencies: sortByJson(entries) } : {}),
      };
    }
    if (conda) {
      const entries = (inline.conda?.dependencies ?? []).map((dep) => {
        const { entry, origin } = canonicalConda(dep.spec);
        dependencies.push({ ...dep, origin });
        return entry;
      });
      payload.conda = {
        ...otherKeys(conda),
        ...(conda.dependencies ? { dependencies: sortByJson(entries) } : {}),
      };
    }
    let text: string | undefined;
    try {
      text = canonicalize(payload);
    } catch (error) {
      throw new TrustError(
        'trust_metadata_invalid',
        'dependency metadata holds values that are not plain JSON',
        { cause: error },
      );
    }
    if (text === undefined) {
      throw new TrustError('trust_metadata_invalid', 'dependency metadata is not plain JSON');
    }
    return {
      notebook,
      dependencies,
      payload: text,
      fingerprint: combinedFingerprint(text, []),
    };
  } catch (error) {
    throw toTrustError(error);
  }
}

/**
 * Dependencies that come from project files next to the notebook (pyproject.toml, pixi.toml,
 * environment.yml). They are not covered by the notebook's signature, only by the allowlist,
 * and they are part of the fingerprint so an approval covers exactly what was shown.
 */
export function readProjectDependencies(dependencies: readonly unknown[]): {
  dependencies: NotebookDependency[];
  entries: Record<string, unknown>[];
} {
  if (!Array.isArray(dependencies)) {
    throw new TrustError('trust_input_invalid', 'project dependencies must be a list');
  }
  const out: NotebookDependency[] = [];
  const entries: Record<string, unknown>[] = [];
  for (const value of dependencies) {
    const parsed = DependencySchema.safeParse(value);
    if (!parsed.success)
      throw new TrustError('trust_input_invalid', 'malformed project dependency');
    try {
      const { ecosystem, spec } = parsed.data;
      // The name is re-derived from the spec: a name that disagrees with its spec must not
      // get one package approved while another is installed.
      const dep = toDependency(spec, ecosystem);
      const { entry, origin } = ecosystem === 'pypi' ? canonicalPypi(spec) : canonicalConda(spec);
      out.push({ ...dep, origin });
      entries.push({ ecosystem, ...entry });
    } catch (error) {
      throw toTrustError(error);
    }
  }
  return { dependencies: out, entries: sortByJson(entries) };
}

/** Combines the notebook's fingerprint with project-file dependencies, when there are any. */
export function combinedFingerprint(
  notebookPayload: string,
  projectEntries: readonly Record<string, unknown>[],
): string {
  const text =
    projectEntries.length === 0
      ? notebookPayload
      : (canonicalize({ notebook: JSON.parse(notebookPayload), project: projectEntries }) ?? '');
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
