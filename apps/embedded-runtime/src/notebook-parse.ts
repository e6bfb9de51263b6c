// Notebook JSON from the workspace is hostile, and JSON.parse is not linear in what a kernel can
// put in 64 MB: measured on this project's 2-core CI machine, 8 MB of nested empty arrays took
// 4–7 s and 60 MB 46 s, all of it on the thread that runs it (allocation-bound: ~1 µs per
// value, whatever the depth). A depth limit does not help (shallow `[[],[],…]` costs the same),
// so a notebook above a small size is parsed on a worker thread with a bounded heap: the event
// loop keeps answering, and a parse that needs more memory than the limit fails with a typed
// `notebook_too_large` instead of growing the server. The worker sends back only the parts the
// runtime reads (nbformat and the known metadata sections), never the cells: edits are spliced
// into the original text, so nothing else needs to cross the thread boundary.
import { Worker } from 'node:worker_threads';
import {
  EnvDetectionError,
  MAX_NOTEBOOK_BYTES,
  type Notebook,
  parseNotebook,
  parseNotebookJson,
} from '@runyard/env-detection';
import { RuntimeError } from '@runyard/runtime-registry';
import type { NotebookDocument } from './notebook-file.js';
import type { WorkspaceFs } from './workspace-fs.js';

/** At most this many bytes are parsed on the calling thread (worst case ~0.1 s of `[]`s). */
export const INLINE_PARSE_BYTES = 128 * 1024;
/** The parse worker's old-generation heap: enough for a 64 MB notebook of images. */
export const PARSE_HEAP_MB = 512;
/** Most bytes of the reduced notebook (known metadata sections) the worker sends back. */
export const MAX_REDUCED_BYTES = 4 * 1024 * 1024;
/**
 * Most arrays, objects and strings a notebook may hold. Parsing costs ~1 µs and tens of bytes per
 * such value, so this bounds the parse's time and memory before it starts (a linear scan refuses
 * more): a real notebook's bulk is a few large strings (images, text), while 64 MB of `[]` is 32
 * million values — measured, 7+ minutes of GC at the heap limit and 2 GB of RSS before the
 * worker gave up.
 */
export const MAX_JSON_VALUES = 2_000_000;

/** Metadata sections the runtime reads (runtime detection, inline dependencies, trust). */
const KNOWN_METADATA = ['kernelspec', 'language_info', 'uv', 'conda', 'runyard'];

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const KNOWN = new Set(${JSON.stringify(KNOWN_METADATA)});
const plain = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
function reduce(value) {
  if (!plain(value)) return Array.isArray(value) ? [] : value;
  const out = {};
  for (const key of ['nbformat', 'nbformat_minor']) if (key in value) out[key] = value[key];
  if ('cells' in value) out.cells = Array.isArray(value.cells) ? [] : plain(value.cells) ? {} : value.cells;
  if ('metadata' in value) {
    const metadata = value.metadata;
    if (plain(metadata)) {
      out.metadata = {};
      for (const key of Object.keys(metadata)) if (KNOWN.has(key)) out.metadata[key] = metadata[key];
    } else out.metadata = Array.isArray(metadata) ? [] : metadata;
  }
  return out;
}
// Counts the values that allocate (arrays, objects, strings) outside of strings, stopping at max.
function tooManyValues(text, max) {
  let count = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      if (++count > max) return true;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 91 || c === 123) {
      if (++count > max) return true;
    }
  }
  return false;
}
parentPort.on('message', ({ id, text, maxReduced, maxValues }) => {
  if (tooManyValues(text, maxValues)) {
    parentPort.postMessage({ id, error: 'too_many_values' });
    return;
  }
  let value;
  try {
    value = reduce(JSON.parse(text));
  } catch (error) {
    parentPort.postMessage({ id, error: 'invalid' });
    return;
  }
  if (JSON.stringify(value).length > maxReduced) {
    parentPort.postMessage({ id, error: 'metadata_too_large' });
    return;
  }
  parentPort.postMessage({ id, value });
});
`;

interface Reply {
  id: number;
  value?: unknown;
  error?: 'invalid' | 'metadata_too_large' | 'too_many_values';
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

function tooComplex(): EnvDetectionError {
  return new EnvDetectionError(
    'notebook_too_large',
    `the notebook is too complex to parse within the ${PARSE_HEAP_MB} MB parse limit`,
  );
}

/**
 * One parse worker, started on first use and unreferenced (it never keeps the process alive).
 * Requests are answered in order; a worker that dies (out of memory) fails what it held and is
 * replaced on the next request.
 */
class ParseWorker {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  private start(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB, maxYoungGenerationSizeMb: 32 },
    });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (reply.error === 'invalid')
        pending.reject(new EnvDetectionError('notebook_invalid', 'notebook is not valid JSON'));
      else if (reply.error === 'too_many_values')
        pending.reject(
          new EnvDetectionError(
            'notebook_too_large',
            `the notebook holds more than ${MAX_JSON_VALUES} arrays, objects and strings`,
          ),
        );
      else if (reply.error === 'metadata_too_large')
        pending.reject(
          new EnvDetectionError(
            'notebook_too_large',
            `the notebook's metadata is larger than ${MAX_REDUCED_BYTES} bytes`,
          ),
        );
      else pending.resolve(reply.value);
    });
    const fail = () => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(tooComplex());
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return worker;
  }

  parse(text: string): Promise<unknown> {
    this.worker ??= this.start();
    const worker = this.worker;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced while a parse is in flight, so a caller awaiting it is not cut short.
      worker.ref();
      worker.postMessage({
        id,
        text,
        maxReduced: MAX_REDUCED_BYTES,
        maxValues: MAX_JSON_VALUES,
      });
    }).finally(() => {
      if (this.pending.size === 0) worker.unref();
    });
  }
}

const shared = new ParseWorker();

/**
 * Parses notebook text the way `parseNotebookJson` does (same limit, same errors), off the event
 * loop above `INLINE_PARSE_BYTES`. The result has no cells (the runtime never reads them).
 */
export async function parseNotebookText(text: string): Promise<Notebook> {
  const size = Buffer.byteLength(text);
  if (size > MAX_NOTEBOOK_BYTES) {
    throw new EnvDetectionError(
      'notebook_too_large',
      `notebook is ${size} bytes; the limit is ${MAX_NOTEBOOK_BYTES}`,
    );
  }
  if (size <= INLINE_PARSE_BYTES) return parseNotebookJson(text);
  return parseNotebook(await shared.parse(text));
}

/** `parseDocument` for text of any size: the text as given, the model parsed off the loop. */
export async function parseDocumentAsync(text: string): Promise<NotebookDocument> {
  return { text, notebook: await parseNotebookText(text) };
}

/**
 * Reads and parses a workspace notebook: a regular file (no symlink at any component), its size
 * checked on the opened file before reading, parsed off the loop when large.
 */
export async function readNotebookDocument(
  files: WorkspaceFs,
  path: string,
): Promise<NotebookDocument> {
  const bytes = await files.readFile(path, {
    maxBytes: MAX_NOTEBOOK_BYTES,
    tooLarge: (size) =>
      new EnvDetectionError(
        'notebook_too_large',
        `notebook is ${size} bytes; the limit is ${MAX_NOTEBOOK_BYTES}`,
      ),
  });
  if (bytes === null) throw new RuntimeError('notebook_not_found', 'The notebook file is gone');
  return parseDocumentAsync(bytes.toString('utf8'));
}
