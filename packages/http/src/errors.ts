import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  isResponseSerializationError,
} from 'fastify-type-provider-zod';
import { drainRefusedBody } from './body-drain.js';

export const HttpErrorCode = {
  unauthorized: 'unauthorized',
  forbiddenOrigin: 'forbidden_origin',
  /** The Host header names a host the server does not answer to (DNS rebinding). */
  forbiddenHost: 'forbidden_host',
  notFound: 'not_found',
  invalidRequest: 'invalid_request',
  bodyTooLarge: 'body_too_large',
  /** Node's parser refused the request: its headers are over 16 KiB. */
  headersTooLarge: 'headers_too_large',
  /** Node's parser gave up waiting for the whole request. */
  requestTimeout: 'request_timeout',
  internal: 'internal_error',
  /** The server's disk (workspace, data or cache dir) is full: a write was refused, nothing lost. */
  diskFull: 'disk_full',
  /** The token file is a symlink, not a regular file, or readable by group/others. */
  tokenInsecure: 'token_insecure',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

export const httpErrorStatus: Record<HttpErrorCode, number> = {
  unauthorized: 401,
  forbidden_origin: 403,
  forbidden_host: 403,
  not_found: 404,
  invalid_request: 400,
  body_too_large: 413,
  headers_too_large: 431,
  request_timeout: 408,
  internal_error: 500,
  disk_full: 507,
  token_insecure: 500,
};

/** errno / SQLite codes that mean "no space left": the same answer whichever layer hit it. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/**
 * True when `error` (or an error in its `cause` chain) is a full disk. Such a failure is the
 * operator's to fix, not a bug: it gets the typed `disk_full` instead of a generic 500, with a
 * fixed message (the system error's own names the file, a host path).
 */
export function isDiskFull(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && DISK_FULL_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export const DISK_FULL_MESSAGE = "no space left on the server's disk: free some space and retry";

/** An error a route throws on purpose, with a code and status of its own. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: string;
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string) {
    super(message);
    this.code = code;
    this.statusCode = statusCode;
  }
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Maps a package error code (e.g. `config_bundle_missing`) to an HTTP status, if known. */
export type StatusForCode = (code: string) => number | undefined;

/** Builds one status lookup from the packages' code tables. */
export function statusTable(...tables: Record<string, number>[]): StatusForCode {
  const merged = new Map<string, number>();
  for (const table of tables)
    for (const [code, status] of Object.entries(table)) merged.set(code, status);
  return (code) => merged.get(code);
}

/**
 * The single place errors become `{ error: { code, message } }`. Typed package errors keep
 * their code and message (which the packages keep free of paths and secrets); anything
 * unexpected is logged and answered with a generic 500 so no stack or host path leaks.
 */
export function createErrorHandler(statusFor: StatusForCode) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const detail = error.validation
        .slice(0, 3)
        .map((issue) => `${issue.instancePath || '(body)'} ${issue.message}`)
        .join('; ');
      return reply.code(400).send(errorBody('invalid_request', `invalid request: ${detail}`));
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error }, 'response did not match its schema');
      return reply.code(500).send(errorBody('internal_error', 'internal error'));
    }
    if (error instanceof HttpError) {
      return reply.code(error.statusCode).send(errorBody(error.code, error.message));
    }
    const code = typeof error.code === 'string' ? error.code : undefined;
    const status = code ? statusFor(code) : undefined;
    if (code && status !== undefined) {
      return reply.code(status).send(errorBody(code, error.message));
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // The client may still be uploading: read the rest so it can read this answer.
      drainRefusedBody(request, reply);
      return reply.code(413).send(errorBody('body_too_large', 'request body too large'));
    }
    if (
      error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
      error.statusCode === 400
    ) {
      return reply.code(400).send(errorBody('invalid_request', 'malformed request body'));
    }
    if (error.statusCode === 415) {
      return reply.code(415).send(errorBody('invalid_request', 'unsupported content type'));
    }
    if (isDiskFull(error)) {
      request.log.error({ err: error }, 'disk full');
      return reply.code(507).send(errorBody('disk_full', DISK_FULL_MESSAGE));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error', 'internal error'));
  };
}
