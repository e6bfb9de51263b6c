import { z } from 'zod';
import { type Dependency, toDependency } from './dependencies.js';
import { EnvDetectionError } from './errors.js';

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

export const RunyardMetadataSchema = loose({
  trust_signature: z.string().optional(),
  trust_timestamp: z.string().optional(),
  env_id: z.string().optional(),
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

export interface InlineDependencies {
  uv?: { dependencies: Dependency[]; requiresPython?: string };
  conda?: { dependencies: Dependency[]; channels: string[]; python?: string };
}

/**
 * The dependencies a notebook declares inline (`metadata.uv`, `metadata.conda`), parsed and
 * normalised. A manager section is present only when it declares a `dependencies` list.
 * Throws `invalid_dependency` for an entry outside the grammar: such a notebook cannot be
 * resolved, signed or approved until it is fixed.
 */
export function readInlineDependencies(notebook: Notebook): InlineDependencies {
  const { uv, conda } = notebook.metadata;
  const result: InlineDependencies = {};
  if (uv?.dependencies) {
    result.uv = {
      dependencies: uv.dependencies.map((spec) => toDependency(spec, 'pypi')),
      ...(uv['requires-python'] !== undefined ? { requiresPython: uv['requires-python'] } : {}),
    };
  }
  if (conda?.dependencies) {
    result.conda = {
      dependencies: conda.dependencies.map((spec) => toDependency(spec, 'conda')),
      channels: conda.channels ?? [],
      ...(conda.python !== undefined ? { python: conda.python } : {}),
    };
  }
  return result;
}
