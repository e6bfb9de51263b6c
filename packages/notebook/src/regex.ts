// Regular-expression replacement with a hard time bound. JavaScript's engine backtracks, so a
// pattern like `(a+)+$` takes exponential time on `aaaa…!`, and no static check catches every
// such pattern (`(a|a)*$` has no nested quantifier). The replacement therefore runs in a worker
// thread; if it has not answered within the deadline the worker is terminated (V8 interrupts
// a running regular expression) and the call fails with `regex_timeout`. The pattern is
// compiled on the calling thread first, so syntax errors are typed without a worker.

import { Worker } from 'node:worker_threads';
import { NotebookError } from './errors.js';
import { MAX_CELL_SOURCE_BYTES, MAX_PATTERN_LENGTH, REGEX_TIMEOUT_MS } from './limits.js';

// A dynamic import works whether Node evaluates this as CommonJS or as ESM (it picks ESM when
// the nearest package.json says "type": "module", which is the case for this package's dist).
const WORKER_SOURCE = `
import('node:worker_threads').then(({ parentPort }) => parentPort.on('message', (m) => {
  try {
    const re = new RegExp(m.pattern, m.flags);
    // Counting and replacing are two passes so '$1', '$&', '$<name>' expand exactly as
    // String.prototype.replace expands them; both run inside the same deadline.
    let count = 0;
    for (const _ of m.text.matchAll(re)) count++;
    const text = count === 0 ? m.text : m.text.replace(re, m.replacement);
    if (text.length > m.maxChars) parentPort.postMessage({ id: m.id, ok: false, tooLarge: text.length });
    else parentPort.postMessage({ id: m.id, ok: true, text, count });
  } catch (error) {
    // A result past V8's string limit ("Invalid string length") is a too-large result.
    if (error instanceof RangeError) parentPort.postMessage({ id: m.id, ok: false, tooLarge: -1 });
    else parentPort.postMessage({ id: m.id, ok: false, message: String(error && error.message) });
  }
}));
`;

export interface RegexReplaceRequest {
  text: string;
  pattern: string;
  /** Any of `i`, `m`, `s`, `u`, `v`; `g` is implied (every match is replaced). */
  flags?: string;
  replacement: string;
  /** Insert `replacement` as is instead of expanding `$1`, `$&`, `$<name>`. */
  literalReplacement?: boolean;
  timeoutMs?: number;
}

const ALLOWED_FLAGS = /^[imsuv]*$/;

/** Compiles the pattern here so a syntax error is typed without starting a worker. */
export function compileRegex(pattern: string, flags = ''): RegExp {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) {
    throw new NotebookError(
      'invalid_regex',
      `a pattern must be 1 to ${MAX_PATTERN_LENGTH} characters long`,
    );
  }
  if (!ALLOWED_FLAGS.test(flags) || new Set(flags).size !== flags.length) {
    throw new NotebookError('invalid_regex', 'flags may only be i, m, s, u, v, each once');
  }
  try {
    return new RegExp(pattern, `${flags}g`);
  } catch (error) {
    throw new NotebookError('invalid_regex', 'the pattern does not compile', {
      cause: error,
      details: { reason: error instanceof Error ? error.message : String(error) },
    });
  }
}

interface Pending {
  id: number;
  resolve: (value: { text: string; count: number }) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  /** Resolves once the worker runs: the deadline covers the expression, not thread start-up. */
  ready: Promise<void>;
  /** The one request in flight on this worker (runs are serialised). */
  pending: Pending | undefined;
  dead: boolean;
}

/**
 * Runs replacements one at a time in one reusable worker; a timed-out run terminates the
 * worker and the next call starts a fresh one. The worker is unref'd: an idle runner never
 * keeps a process alive.
 */
export class RegexRunner {
  private slot: Slot | undefined;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private start(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const ready = new Promise<void>((resolve) => {
      worker.once('online', () => resolve());
      worker.once('exit', () => resolve());
    });
    const slot: Slot = { worker, ready, pending: undefined, dead: false };
    const settle = (id: number | undefined, outcome: (entry: Pending) => void) => {
      const entry = slot.pending;
      if (!entry || (id !== undefined && entry.id !== id)) return;
      slot.pending = undefined;
      clearTimeout(entry.timer);
      worker.unref();
      outcome(entry);
    };
    worker.on(
      'message',
      (m: {
        id: number;
        ok: boolean;
        text?: string;
        count?: number;
        message?: string;
        tooLarge?: number;
      }) =>
        settle(m.id, (entry) => {
          if (m.ok) entry.resolve({ text: m.text ?? '', count: m.count ?? 0 });
          else if (m.tooLarge !== undefined) entry.reject(resultTooLarge());
          else
            entry.reject(
              new NotebookError('invalid_regex', 'the regular expression failed', {
                details: { reason: m.message ?? 'unknown' },
              }),
            );
        }),
    );
    const fail = (error: NotebookError) => {
      slot.dead = true;
      if (this.slot === slot) this.slot = undefined;
      settle(undefined, (entry) => entry.reject(error));
    };
    // A worker over its heap limit (a replacement that explodes the text) dies with an error.
    worker.on('error', (error) =>
      fail(
        new NotebookError('regex_timeout', 'the regular expression worker failed', {
          cause: error,
        }),
      ),
    );
    worker.on('exit', () =>
      fail(new NotebookError('regex_timeout', 'the regular expression worker exited')),
    );
    // Idle, the worker must not keep the process alive; while a request is in flight it must
    // (runOne refs it, settling unrefs it). Unref'd after the listeners are attached, which ref.
    worker.unref();
    this.slot = slot;
    return slot;
  }

  replace(request: RegexReplaceRequest): Promise<{ text: string; count: number }> {
    const flags = request.flags ?? '';
    compileRegex(request.pattern, flags);
    const run = () => this.runOne(request, `${flags}g`);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runOne(
    request: RegexReplaceRequest,
    flags: string,
  ): Promise<{ text: string; count: number }> {
    const slot = this.slot ?? this.start();
    slot.worker.ref();
    await slot.ready;
    if (slot.dead) {
      throw new NotebookError('regex_timeout', 'the regular expression worker did not start');
    }
    const id = this.nextId++;
    const timeoutMs = request.timeoutMs ?? REGEX_TIMEOUT_MS;
    const replacement =
      request.literalReplacement === true
        ? request.replacement.replace(/\$/g, '$$$$')
        : request.replacement;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending = undefined;
        if (this.slot === slot) this.slot = undefined;
        void slot.worker.terminate();
        reject(
          new NotebookError(
            'regex_timeout',
            `the regular expression did not finish within ${timeoutMs} ms (catastrophic backtracking?)`,
            { details: { timeoutMs } },
          ),
        );
      }, timeoutMs);
      slot.pending = { id, resolve, reject, timer };
      slot.worker.postMessage({
        id,
        text: request.text,
        pattern: request.pattern,
        flags,
        replacement,
        maxChars: MAX_CELL_SOURCE_BYTES,
      });
    });
  }

  /** Terminates the worker (for tests and shutdown). */
  async close(): Promise<void> {
    const slot = this.slot;
    this.slot = undefined;
    if (slot) await slot.worker.terminate();
  }
}

let shared: RegexRunner | undefined;

/** The process-wide runner documents use unless given their own. */
export function sharedRegexRunner(): RegexRunner {
  shared ??= new RegexRunner();
  return shared;
}

/** Literal (non-regex) replacement of every occurrence; `find` must not be empty. */
function resultTooLarge(): NotebookError {
  return new NotebookError(
    'cell_source_too_large',
    `the replaced source would be over the ${MAX_CELL_SOURCE_BYTES}-byte limit`,
    { details: { limit: MAX_CELL_SOURCE_BYTES } },
  );
}

export function replaceLiteral(
  text: string,
  find: string,
  replacement: string,
): { text: string; count: number } {
  if (find.length === 0)
    throw new NotebookError('notebook_invalid_request', 'find must not be empty');
  const pieces = text.split(find);
  const count = pieces.length - 1;
  // Checked before joining: 1M matches × a 1000-character replacement must not build 1 GB.
  if (text.length + count * (replacement.length - find.length) > MAX_CELL_SOURCE_BYTES) {
    throw resultTooLarge();
  }
  return { text: pieces.join(replacement), count };
}
