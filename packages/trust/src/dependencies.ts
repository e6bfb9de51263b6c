import { createHash } from 'node:crypto';
import {
  canonicalDependencySpec,
  type Dependency,
  DependencySchema,
  EnvDetectionError,
  type EnvWarning,
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
  /** Layout warnings (`legacy_metadata_ignored`, `pep723_ignored`) from env-detection. */
  warnings: EnvWarning[];
}

/** Separates these signatures from any other HMAC made with the same key. */
const PAYLOAD_SCOPE = 'runyard.notebook-dependencies.v1';

/** Canonical JSON text of a value, refusing anything that is not plain JSON. */
function canonicalText(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) {
    throw new TrustError('trust_metadata_invalid', 'dependency metadata is not plain JSON');
  }
  return text;
}

/**
 * RFC 8785 text of an object given some of its values' canonical texts already: keys sorted by
 * UTF-16 code units as RFC 8785 says, undefined values left out as `canonicalize` does. This
 * is what lets each dependency entry be serialised once and reused.
 */
function canonicalObject(fields: Record<string, unknown>, texts: Record<string, string>): string {
  const parts: [string, string][] = Object.entries(texts);
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || Object.hasOwn(texts, key)) continue;
    parts.push([key, canonicalText(value)]);
  }
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${parts.map(([key, text]) => `${JSON.stringify(key)}:${text}`).join(',')}}`;
}

type Canonical = { json: string; origin: DependencyOrigin };

/**
 * Parsed specs by text, per ecosystem, each with its entry's canonical JSON: a notebook's few
 * specs are read on every evaluation (decision, signature check, approval) and parsing and
 * serialising them was most of the cost. Only valid specs are remembered; cleared when full.
 */
const CANONICAL_CACHE_LIMIT = 4096;
const canonicalCache = { pypi: new Map<string, Canonical>(), conda: new Map<string, Canonical>() };

function cached(
  ecosystem: 'pypi' | 'conda',
  spec: string,
  parse: (spec: string) => { entry: Record<string, unknown>; origin: DependencyOrigin },
): Canonical {
  const cache = canonicalCache[ecosystem];
  let hit = cache.get(spec);
  if (!hit) {
    const parsed = parse(spec);
    hit = { json: canonicalText(parsed.entry), origin: parsed.origin };
    if (cache.size >= CANONICAL_CACHE_LIMIT) cache.clear();
    cache.set(spec, hit);
  }
  return hit;
}

/** Sorts by canonical JSON, serialising each entry once. */
function sortByJson<T>(entries: T[]): T[] {
  return entries
    .map((entry) => ({ entry, key: canonicalize(entry) ?? '' }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ entry }) => entry);
}

/** The canonical JSON array of entries sorted by their canonical JSON. */
function sortedArrayText(jsons: string[]): string {
  return `[${[...jsons].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(',')}]`;
}

/**
 * Signed entries use env-detection's `canonicalDependencySpec`, the same form env hashes are
 * written from: two specs env hashing treats as one dependency also sign the same.
 */
function canonicalPypi(spec: string): { entry: Record<string, unknown>; origin: DependencyOrigin } {
  const requirement = parseRequirement(spec);
  const { ecosystem: _, ...entry } = canonicalDependencySpec(spec, 'pypi');
  return { entry, origin: requirement.source };
}

function isDirectChannel(channel: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(channel) || /^(file:|\/|\.|~)/i.test(channel);
}

function canonicalConda(spec: string): {
  entry: Record<string, unknown>;
  origin: DependencyOrigin;
} {
  const { ecosystem: _, ...entry } = canonicalDependencySpec(spec, 'conda');
  const parsed = parseCondaSpec(spec);
  const origin: DependencyOrigin =
    parsed.channel === undefined
      ? 'index'
      : /^file:|^[/.~]/i.test(parsed.channel)
        ? 'path'
        : isDirectChannel(parsed.channel)
          ? 'url'
          : 'index';
  return { entry, origin };
}

/** Copies a metadata section without its dependency lists, keeping keys such as `__proto__` as data. */
function otherKeys(section: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(section).filter(
      ([key]) => key !== 'dependencies' && key !== 'pypi_dependencies',
    ),
  );
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
function toNotebook(input: unknown): Notebook {
  try {
    if (typeof input === 'string' || input instanceof Uint8Array) return parseNotebookJson(input);
    return parseNotebook(input);
  } catch (error) {
    throw toTrustError(error);
  }
}

/**
 * Reads and normalises the dependency declarations a notebook has in effect, wherever they are
 * written (`readInlineDependencies`: `metadata.runt.{uv,conda,pixi}`, else the top-level
 * `metadata.{uv,conda}`, else a PEP 723 block in a code cell as `uv`). The payload names the
 * manager, never the layout, so moving a declaration between layouts keeps its signature and
 * fingerprint, while any change of what would be installed changes both. Dependency lists
 * become sorted lists of structured entries with normalised names, so reordering or a name's
 * case never matters but any change of a package, version, extra, marker or URL does. Other
 * keys of the sections in effect (channels, requires-python, anything unknown) are kept
 * verbatim: they can change what gets installed. A section that is ignored (a top-level one
 * under a runt one, a PEP 723 block under metadata dependencies) installs nothing and is not
 * part of it; cells other than a PEP 723 block in effect, outputs and other metadata are not
 * either.
 */
export function readNotebookDependencies(input: unknown): NotebookDependencies {
  const notebook = toNotebook(input);
  try {
    const inline = readInlineDependencies(notebook);
    const dependencies: NotebookDependency[] = [];
    let text: string;
    try {
      const sections: Record<string, string> = {};
      const list = (ecosystem: 'pypi' | 'conda', deps: readonly Dependency[]): string => {
        const jsons = deps.map((dep) => {
          const { json, origin } = cached(
            ecosystem,
            dep.spec,
            ecosystem === 'pypi' ? canonicalPypi : canonicalConda,
          );
          // Spelled out: an object spread per dependency was most of this function's time.
          dependencies.push({ ecosystem: dep.ecosystem, name: dep.name, spec: dep.spec, origin });
          return json;
        });
        return sortedArrayText(jsons);
      };
      const { uv, conda, pixi } = inline.sections;
      if (uv) {
        sections.uv = canonicalObject(
          otherKeys(uv),
          inline.uv ? { dependencies: list('pypi', inline.uv.dependencies) } : {},
        );
      }
      if (conda) {
        sections.conda = canonicalObject(
          otherKeys(conda),
          inline.conda ? { dependencies: list('conda', inline.conda.dependencies) } : {},
        );
      }
      if (pixi) {
        const deps = inline.pixi?.dependencies ?? [];
        const texts: Record<string, string> = {};
        if (pixi.dependencies !== undefined)
          texts.dependencies = list(
            'conda',
            deps.filter((dep) => dep.ecosystem === 'conda'),
          );
        if (pixi.pypi_dependencies !== undefined)
          texts.pypi_dependencies = list(
            'pypi',
            deps.filter((dep) => dep.ecosystem === 'pypi'),
          );
        sections.pixi = canonicalObject(otherKeys(pixi), texts);
      }
      text = canonicalObject({ scope: PAYLOAD_SCOPE }, sections);
    } catch (error) {
      // Spec errors keep their own message; anything else came from serialising odd values.
      if (error instanceof TrustError || error instanceof EnvDetectionError) throw error;
      throw new TrustError(
        'trust_metadata_invalid',
        'dependency metadata holds values that are not plain JSON',
        { cause: error },
      );
    }
    return {
      notebook,
      dependencies,
      payload: text,
      fingerprint: combinedFingerprint(text, []),
      warnings: inline.warnings,
    };
  } catch (error) {
    throw toTrustError(error);
  }
}

/**
 * The signature a notebook carries: this project's (`metadata.runyard.trust_signature`), else
 * nteract's (`metadata.runt.trust_signature`). nteract signs with its own key, so its signature
 * never verifies here; reading it still matters: a notebook that was signed elsewhere is
 * `signature_invalid` ("signed elsewhere or modified"), not unsigned.
 */
export function notebookSignature(notebook: Notebook): unknown {
  const own = notebook.metadata.runyard?.trust_signature;
  return own !== undefined ? own : notebook.metadata.runt?.trust_signature;
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
