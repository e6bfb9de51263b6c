import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

export type WorkspaceApp = FastifyInstance<
  RawServerDefault,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export const ErrorBodySchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .describe('Every failure: a stable code and a message without host paths or secrets');

/** The error responses every authenticated route can give, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBodySchema> {
  return Object.fromEntries([401, 400, ...statuses].map((status) => [status, ErrorBodySchema]));
}

/** Path ids: bounded, printable, never empty. */
export const IdSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s/\\]+$/, 'must not contain whitespace or slashes');

export const IdParams = z.object({ id: IdSchema });
