import { z } from 'zod';
import { type Dependency, toDependency } from './dependencies.js';
import { EnvDetectionError } from './errors.js';
import { describeCell, type Pep723Metadata, readPep723 } from './pep723.js';
import type { EnvWarning } from './warnings.js';

/** Largest notebook file accepted (outputs with images make real notebooks big). */
export const MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024;
/** Most inline dependencies a notebook may declare per manager. */
export const MAX_INLINE_DEPENDENCIES = 500;

const loose = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);

export const KernelspecSchema = loose({
  name: z.string().optional(),
  display_name: z.string().optional(),
  language: z.string().optional(),
});

export const UvMetadataSchema = loose({
  dependencies: z.array(z.string()).max(MAX_INLINE_DEPENDENCIES).optional(),
  'requires-python': z.string().max(256).optional(),
});

export const CondaMetadataSchema = loose({
  dependencies: z.array(z.string()).max(MAX_INLINE_DEPENDENCIES).optional(),
  channels: z.array(z.string().max(256)).max(64).optional(),
  python: z.string().max(64).optional(),
});

export const PixiMetadataSchema = loose({
  /** conda match specs. */
  dependencies: z.array(z.string()).max(MAX_INLINE_DEPENDENCIES).optional(),
  /** PEP 508 requirements. */
  pypi_dependencies: z.array(z.string()).max(MAX_INLINE_DEPENDENCIES).optional(),
  channels: z.array(z.string().max(256)).max(64).optional(),
  python: z.string().max(64).optional(),
});

export const RunyardMetadataSchema = loose({
  trust_signature: z.string().optional(),
  trust_timestamp: z.string().optional(),
  env_id: z.string().optional(),
});

/**
 * nteract's namespace (`metadata.runt`), where current nteract versions keep a notebook's
 * dependencies. The sections Runyard installs from are validated like the top-level ones; the
 * keys it only looks at (`deno`, `env_id`, `trust_signature`, ...) are kept as whatever they are,
 * so another tool's odd value never makes the notebook unreadable.
 */
export const RuntMetadataSchema = loose({
  uv: UvMetadataSchema.optional(),
  conda: CondaMetadataSchema.optional(),
  pixi: PixiMetadataSchema.optional(),
  deno: z.unknown().optional(),
  env_id: z.unknown().optional(),
  trust_signature: z.unknown().optional(),
});

/**
 * The parts of an nbformat 4 notebook Runyard reads. Every object is loose: unknown keys are
 * kept, so a notebook written back loses nothing.
 */
export const NotebookSchema = loose({
  nbformat: z.number().int().optional(),
  nbformat_minor: z.number().int().optional(),
  cells: z.array(z.unknown()).optional(),
  metadata: loose({
    kernelspec: KernelspecSchema.optional(),
    language_info: loose({ name: z.string().optional() }).optional(),
    uv: UvMetadataSchema.optional(),
    conda: CondaMetadataSchema.optional(),
    runyard: RunyardMetadataSchema.optional(),
    runt: RuntMetadataSchema.optional(),
  }).default({}),
});
export type Notebook = z.infer<typeof NotebookSchema>;

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Validates an already-parsed value as a notebook. */
export function parseNotebook(value: unknown): Notebook {
  const result = NotebookSchema.safeParse(value);
  if (!result.success) {
    throw new EnvDetectionError(
      'notebook_invalid',
      `not a valid notebook: ${describeIssues(result.error)}`,
    );
  }
  return result.data;
}

/** Parses notebook JSON text (or bytes) with the size limit applied before parsing. */
export function parseNotebookJson(
  input: string | Uint8Array,
  maxBytes = MAX_NOTEBOOK_BYTES,
): Notebook {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > maxBytes) {
    throw new EnvDetectionError(
      'notebook_too_large',
      `notebook is ${size} bytes; the limit is ${maxBytes}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
  } catch (error) {
    throw new EnvDetectionError('notebook_invalid', 'notebook is not valid JSON', {
      cause: error,
    });
  }
  return parseNotebook(value);
}

export type InlineManager = 'uv' | 'conda' | 'pixi';

export interface InlineDependencies {
  uv?: { dependencies: Dependency[]; requiresPython?: string; declaredIn: string };
  conda?: { dependencies: Dependency[]; channels: string[]; python?: string; declaredIn: string };
  /** conda dependencies first, then PyPI (`pypi_dependencies`). */
  pixi?: { dependencies: Dependency[]; channels: string[]; python?: string; declaredIn: string };
  /**
   * The section in effect per manager, as written (for a PEP 723 block: its `dependencies` and
   * `requires-python`): what a trust signature covers. Present also for a section that declares
   * no dependency list (e.g. only `requires-python`), so such keys are signed too.
   */
  sections: Partial<Record<InlineManager, Record<string, unknown>>>;
  /** The notebook's PEP 723 block, whether it is the uv source or was ignored. */
  pep723?: Pep723Metadata;
  warnings: EnvWarning[];
}

const DEPENDENCY_KEYS: Record<InlineManager, readonly string[]> = {
  uv: ['dependencies'],
  conda: ['dependencies'],
  pixi: ['dependencies', 'pypi_dependencies'],
};

/** Whether a section declares a dependency list (an empty list counts: it is a declaration). */
function declares(manager: InlineManager, section: Record<string, unknown> | undefined): boolean {
  return (
    section !== undefined && DEPENDENCY_KEYS[manager].some((key) => section[key] !== undefined)
  );
}

/**
 * The dependencies a notebook declares inline, parsed and normalised, from wherever they are
 * written. Per manager, first present wins:
 * - `uv`, `conda`: `metadata.runt.<manager>` (nteract's namespace), then the top-level
 *   `metadata.<manager>` (when both exist, runt wins and `legacy_metadata_ignored` says so);
 * - `pixi`: `metadata.runt.pixi`.
 * A PEP 723 `# /// script` block in a code cell is the uv declaration only when no metadata
 * section declares a dependency list; otherwise it is ignored with `pep723_ignored` (nteract's
 * order: notebook metadata, then PEP 723, then project files). A manager's entry is present
 * only when it declares a `dependencies` list (pixi: or `pypi_dependencies`).
 * Throws `invalid_dependency` for an entry outside the grammar, `pep723_duplicate` for two
 * blocks and `pep723_invalid` for a block that is not TOML: such a notebook cannot be resolved,
 * signed or approved until it is fixed.
 */
export function readInlineDependencies(notebook: Notebook): InlineDependencies {
  const { metadata } = notebook;
  const runt = metadata.runt;
  const warnings: EnvWarning[] = [];
  const sections: InlineDependencies['sections'] = {};
  const where: Partial<Record<InlineManager, string>> = {};
  for (const manager of ['uv', 'conda'] as const) {
    const namespaced = runt?.[manager];
    const legacy = metadata[manager];
    if (namespaced && legacy) {
      warnings.push({
        code: 'legacy_metadata_ignored',
        message: `the notebook has both metadata.runt.${manager} and metadata.${manager}; using metadata.runt.${manager} (as nteract does) and ignoring metadata.${manager}`,
      });
    }
    const section = namespaced ?? legacy;
    if (section) {
      sections[manager] = section;
      where[manager] = namespaced ? `metadata.runt.${manager}` : `metadata.${manager}`;
    }
  }
  if (runt?.pixi) {
    sections.pixi = runt.pixi;
    where.pixi = 'metadata.runt.pixi';
  }

  const result: InlineDependencies = { sections, warnings };
  const uv = sections.uv as z.infer<typeof UvMetadataSchema> | undefined;
  const conda = sections.conda as z.infer<typeof CondaMetadataSchema> | undefined;
  const pixi = sections.pixi as z.infer<typeof PixiMetadataSchema> | undefined;
  if (uv?.dependencies && where.uv) {
    result.uv = {
      dependencies: uv.dependencies.map((spec) => toDependency(spec, 'pypi')),
      ...(uv['requires-python'] !== undefined ? { requiresPython: uv['requires-python'] } : {}),
      declaredIn: where.uv,
    };
  }
  if (conda?.dependencies && where.conda) {
    result.conda = {
      dependencies: conda.dependencies.map((spec) => toDependency(spec, 'conda')),
      channels: conda.channels ?? [],
      ...(conda.python !== undefined ? { python: conda.python } : {}),
      declaredIn: where.conda,
    };
  }
  if (pixi && declares('pixi', pixi) && where.pixi) {
    result.pixi = {
      dependencies: [
        ...(pixi.dependencies ?? []).map((spec) => toDependency(spec, 'conda')),
        ...(pixi.pypi_dependencies ?? []).map((spec) => toDependency(spec, 'pypi')),
      ],
      channels: pixi.channels ?? [],
      ...(pixi.python !== undefined ? { python: pixi.python } : {}),
      declaredIn: where.pixi,
    };
  }

  const pep723 = readPep723(notebook.cells);
  if (pep723) {
    result.pep723 = pep723;
    const declaredBy = (['uv', 'conda', 'pixi'] as const).filter((m) => result[m] !== undefined);
    if (declaredBy.length > 0) {
      warnings.push({
        code: 'pep723_ignored',
        message: `the # /// script block in ${describeCell(pep723.block)} is ignored: the notebook metadata (${declaredBy.map((m) => where[m]).join(', ')}) declares its dependencies, and metadata wins`,
      });
    } else {
      let dependencies: Dependency[];
      try {
        dependencies = pep723.dependencies.map((spec) => toDependency(spec, 'pypi'));
      } catch (error) {
        if (!(error instanceof EnvDetectionError)) throw error;
        const at = describeCell(pep723.block);
        throw new EnvDetectionError(
          'invalid_dependency',
          `${at}, # /// script block: ${error.message}`,
          {
            cause: error,
            details: { cell: pep723.block.cell, line: pep723.block.startLine },
          },
        );
      }
      result.uv = {
        dependencies,
        ...(pep723.requiresPython !== undefined ? { requiresPython: pep723.requiresPython } : {}),
        declaredIn: `cells[${pep723.block.cellIndex}].source`,
      };
      sections.uv = pep723.section;
    }
  }
  return result;
}
