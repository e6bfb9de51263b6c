// `runyard serve` logs JSON lines (pino) for machines; on a terminal a person reads them, so
// each line is rewritten as `HH:MM:SS LEVEL message key=value ...`. Pino's redaction and the
// secret scrubbing happen before a line reaches this formatter, so it only ever sees what the
// JSON would have shown.

export type LogFormat = 'auto' | 'pretty' | 'json';

/** `auto` is pretty only when the stream the logs go to is a terminal. */
export function resolveLogFormat(
  format: LogFormat,
  stream: { isTTY?: boolean },
): 'pretty' | 'json' {
  if (format !== 'auto') return format;
  return stream.isTTY === true ? 'pretty' : 'json';
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const COLORS: Record<string, string> = {
  TRACE: '90',
  DEBUG: '36',
  INFO: '32',
  WARN: '33',
  ERROR: '31',
  FATAL: '35',
};
/** Fields every line has, or that the line's head already shows. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);
const MAX_VALUE_CHARS = 200;

function clock(time: unknown): string {
  const date = typeof time === 'number' ? new Date(time) : new Date();
  return date.toTimeString().slice(0, 8);
}

function value(raw: unknown): string {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const flat = (text ?? String(raw)).replace(/\s*\n\s*/g, ' ');
  return flat.length > MAX_VALUE_CHARS ? `${flat.slice(0, MAX_VALUE_CHARS)}…` : flat;
}

/** Fastify's request fields as a person writes them: `GET /api/x`, `200`, `3.1ms`. */
function field(key: string, raw: unknown): string {
  if (key === 'req' && raw !== null && typeof raw === 'object') {
    const { method, url } = raw as { method?: unknown; url?: unknown };
    if (typeof method === 'string' && typeof url === 'string') return `${method} ${url}`;
  }
  if (key === 'res' && raw !== null && typeof raw === 'object') {
    const { statusCode } = raw as { statusCode?: unknown };
    if (typeof statusCode === 'number') return String(statusCode);
  }
  if (key === 'responseTime' && typeof raw === 'number') return `${raw.toFixed(1)}ms`;
  return value(raw);
}

/**
 * One pino JSON line as a human line. A line that is not a JSON object is passed through
 * unchanged, so nothing written to the log is ever lost.
 */
export function formatLogLine(line: string, options: { color?: boolean } = {}): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const level =
    typeof record.level === 'number'
      ? (LEVELS[record.level] ?? String(record.level))
      : String(record.level ?? 'INFO').toUpperCase();
  const shown = options.color ? `\u001b[${COLORS[level] ?? '0'}m${level}\u001b[0m` : level;
  const pad = ' '.repeat(Math.max(0, 5 - level.length));
  const message = typeof record.msg === 'string' ? record.msg : '';
  const parts = [`${clock(record.time)} ${shown}${pad} ${message}`.trimEnd()];
  let stack: string | undefined;
  for (const [key, raw] of Object.entries(record)) {
    if (HIDDEN.has(key) || raw === undefined) continue;
    if (key === 'err' && raw !== null && typeof raw === 'object') {
      const err = raw as { type?: unknown; message?: unknown; stack?: unknown };
      parts.push(`err=${value(`${err.type ?? 'Error'}: ${err.message ?? ''}`)}`);
      if (typeof err.stack === 'string') stack = err.stack;
      continue;
    }
    parts.push(`${key}=${field(key, raw)}`);
  }
  const head = parts.join(' ');
  if (stack === undefined) return head;
  const frames = stack
    .split('\n')
    .slice(1)
    .map((frame) => `    ${frame.trim()}`);
  return [head, ...frames].join('\n');
}

/** A pino destination that writes each JSON line to `target` as a human line. */
export function prettyLogStream(
  target: NodeJS.WritableStream & { isTTY?: boolean },
  options: { color?: boolean } = {},
): { write(chunk: string): boolean } {
  const color = options.color ?? target.isTTY === true;
  let partial = '';
  return {
    write(chunk: string): boolean {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      const text = lines
        .filter((line) => line !== '')
        .map((line) => `${formatLogLine(line, { color })}\n`)
        .join('');
      return text === '' ? true : target.write(text);
    },
  };
}
