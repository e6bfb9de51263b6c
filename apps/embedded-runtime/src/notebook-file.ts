import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type Notebook, parseNotebookJson } from '@runyard/env-detection';

/**
 * Replaces a file atomically: a temp file beside it (same mode), fsynced, renamed over it. A
 * reader sees the old or the new bytes, never half of them.
 */
export function writeFileAtomic(path: string, text: string): void {
  let mode = 0o644;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // a new file
  }
  const temp = join(dirname(path), `.${basename(path)}.${randomUUID().slice(0, 8)}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

export interface NotebookDocument {
  /** The exact text; edits are spliced into it. */
  text: string;
  notebook: Notebook;
}

export function parseDocument(text: string): NotebookDocument {
  return { text, notebook: parseNotebookJson(text) };
}

export function readDocument(path: string): NotebookDocument {
  return parseDocument(readFileSync(path, 'utf8'));
}

/** A new nbformat 4.5 notebook, written the way Jupyter writes it (1-space indent). */
export function newNotebookText(options: {
  runtime: 'python' | 'deno';
  dependencies?: { manager: 'uv' | 'conda'; specs: string[] };
}): string {
  const metadata: Record<string, unknown> =
    options.runtime === 'deno'
      ? {
          kernelspec: { display_name: 'Deno', language: 'typescript', name: 'deno' },
          language_info: { name: 'typescript' },
        }
      : {
          kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
          language_info: { name: 'python' },
        };
  if (options.dependencies && options.dependencies.specs.length > 0) {
    metadata[options.dependencies.manager] = { dependencies: options.dependencies.specs };
  }
  return `${JSON.stringify({ cells: [], metadata, nbformat: 4, nbformat_minor: 5 }, null, 1)}\n`;
}
