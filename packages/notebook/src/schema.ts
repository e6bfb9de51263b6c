// Shapes checked at the boundaries: cells as read from a file, outputs a run records. Only
// `safeParse(...).success` is used; values are read from the parsed JSON itself, so zod never
// copies (and never re-keys) an object that might carry a `__proto__` member.

import { z } from 'zod';

const plainObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'expected an object',
);

export const MultilineString = z.union([z.string(), z.array(z.string())]);

export const CellShape = z.looseObject({
  cell_type: z.enum(['code', 'markdown', 'raw']),
  source: MultilineString,
  metadata: plainObject.optional(),
  outputs: z.array(plainObject).optional(),
  execution_count: z.number().int().min(0).nullable().optional(),
  attachments: plainObject.optional(),
});

const mimeBundle = z.custom<Record<string, unknown>>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).every((key) => /^[^/\s]+\/[^/\s]+$/.test(key)),
  'expected a mime bundle (keys like text/plain)',
);

/** nbformat 4 outputs, as a run records them. */
export const OutputShape = z.discriminatedUnion('output_type', [
  z.looseObject({ output_type: z.literal('stream'), name: z.string(), text: MultilineString }),
  z.looseObject({
    output_type: z.literal('display_data'),
    data: mimeBundle,
    metadata: plainObject,
  }),
  z.looseObject({
    output_type: z.literal('execute_result'),
    execution_count: z.number().int().min(0).nullable(),
    data: mimeBundle,
    metadata: plainObject,
  }),
  z.looseObject({
    output_type: z.literal('error'),
    ename: z.string(),
    evalue: z.string(),
    traceback: z.array(z.string()),
  }),
]);

export const OutputsShape = z.array(OutputShape);
export type NbOutput = z.infer<typeof OutputShape>;

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
