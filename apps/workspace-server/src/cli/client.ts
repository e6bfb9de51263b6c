import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServeConfig } from '../config.js';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The running server's URL and token as a CLI on the same machine finds them. */
export function serverTarget(config: ServeConfig, url: string | undefined) {
  const host =
    config.host === '0.0.0.0' || config.host === '::'
      ? '127.0.0.1'
      : config.host.includes(':')
        ? `[${config.host}]`
        : config.host;
  let token = config.token;
  if (token === undefined) {
    try {
      token = readFileSync(join(config.dataDir, 'token'), 'utf8').trim();
    } catch {
      token = undefined;
    }
  }
  return { url: (url ?? `http://${host}:${config.port}`).replace(/\/+$/, ''), token };
}

/** One JSON call to the workspace server; `{error:{code,message}}` bodies become ApiError. */
export async function callApi(
  target: { url: string; token: string | undefined },
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  if (!target.token) {
    throw new ApiError(401, 'unauthorized', 'no API token: set RUNYARD_TOKEN or --data-dir');
  }
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10 * 60 * 1000),
    });
  } catch {
    throw new ApiError(0, 'server_unreachable', `no workspace server answers at ${target.url}`);
  }
  const text = await response.text();
  let value: unknown;
  try {
    value = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(response.status, 'invalid_response', 'the server answered with non-JSON');
  }
  if (!response.ok) {
    const error = (value as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(
      response.status,
      error?.code ?? 'http_error',
      error?.message ?? `HTTP ${response.status}`,
    );
  }
  return value;
}
