// What every answer must satisfy, whatever was sent: pure functions over the response text.

/** Strings that must never appear in an answer: the token and host paths. */
export function secretsOf(token: string, root: string): string[] {
  return [token, root, '/root/', '/home/', 'node_modules', '/usr/lib/', '/work/'];
}

/** The first secret or host path `text` contains, if any. */
export function leakIn(text: string, secrets: string[]): string | undefined {
  return secrets.find((s) => s.length > 0 && text.includes(s));
}

/** A stack frame in an answer means an unexpected error leaked through. */
const STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

/** Codes documented with a 5xx status in the packages' error tables. */
const TYPED_5XX = /^(execution_timeout|remote_runtime_[a-z_]+|disk_full)$/;

export type Problem = { kind: string; detail: string };

/** `{ error: { code, message } }` with non-empty strings, and nothing more surprising. */
export function isErrorShape(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' && code.length > 0 && typeof message === 'string';
}

/** JSON-RPC 2.0 error object, the MCP transport's own error answer. */
export function isJsonRpcError(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const error = (body as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'number' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/**
 * Checks one HTTP answer. `jsonRpc`: the route is the MCP endpoint, whose protocol errors are
 * JSON-RPC objects rather than the REST error shape.
 */
export function checkHttpAnswer(
  status: number,
  text: string,
  secrets: string[],
  jsonRpc = false,
): Problem[] {
  const problems: Problem[] = [];
  if (status >= 500) {
    // A documented gateway answer with its own code (504 `execution_timeout` for a caller's
    // own timeoutMs, 502 `remote_runtime_*`, 507 `disk_full`) is a typed answer, not a fault;
    // a 500, `internal_error` or an untyped 5xx is.
    let code: unknown;
    try {
      code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    } catch {
      code = undefined;
    }
    const typedGateway =
      status !== 500 &&
      typeof code === 'string' &&
      code !== 'internal_error' &&
      TYPED_5XX.test(code);
    problems.push(
      typedGateway
        ? { kind: 'typed-5xx', detail: `status ${status} ${code}` }
        : { kind: '5xx', detail: `status ${status}: ${text.slice(0, 300)}` },
    );
  }
  const leak = leakIn(text, secrets);
  if (leak) problems.push({ kind: 'leak', detail: `answer contains ${JSON.stringify(leak)}` });
  if (STACK.test(text)) problems.push({ kind: 'stack', detail: text.slice(0, 300) });
  if (status >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      problems.push({
        kind: 'error-shape',
        detail: `status ${status}, not JSON: ${text.slice(0, 200)}`,
      });
      return problems;
    }
    const ok = isErrorShape(body) || (jsonRpc && isJsonRpcError(body));
    if (!ok)
      problems.push({ kind: 'error-shape', detail: `status ${status}: ${text.slice(0, 200)}` });
  }
  return problems;
}
