import { statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export type FileKind = 'file' | 'directory' | 'other';

export interface FileStat {
  kind: FileKind;
  size: number;
}

/**
 * The little filesystem access environment resolution needs. Paths are absolute host paths.
 * Implementations follow symlinks, like a user's tools would when they open the file.
 */
export interface EnvFs {
  /** What is at `path`, or `null` when nothing is there or it cannot be seen. Never throws. */
  stat(path: string): Promise<FileStat | null>;
  /**
   * The bytes (or UTF-8 text) of a regular file. Implementations may stop after
   * `maxBytes + 1` bytes: the caller refuses anything longer than `maxBytes` either way.
   */
  readFile(path: string, maxBytes: number): Promise<Uint8Array | string>;
}

/** First buffer size when the file's size is unknown or changed under us. */
const INITIAL_READ = 64 * 1024;

/**
 * Reads an opened file from offset 0 until end of file or `limit` bytes, starting with a
 * buffer of `initial` bytes (at most `limit`) and doubling it while the file keeps giving more.
 * Callers size `initial` from the file's stat so a small file does not cost a zeroed buffer of
 * the whole limit; a caller refuses the result when it is longer than its own maximum.
 */
export async function readHandleUpTo(
  handle: FileHandle,
  limit: number,
  initial: number,
): Promise<Buffer> {
  let buffer = Buffer.allocUnsafe(Math.min(limit, initial));
  let filled = 0;
  for (;;) {
    if (filled === buffer.length) {
      if (buffer.length >= limit) break;
      const grown = Buffer.allocUnsafe(Math.min(limit, buffer.length * 2));
      buffer.copy(grown, 0, 0, filled);
      buffer = grown;
    }
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

async function readBounded(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    // One byte more than allowed is enough to know the file is too big without reading it all.
    // Sized from the file (not the limit) so a small file does not cost a zeroed 1 MiB buffer;
    // grown as needed when the file is bigger than it said.
    const { size } = await handle.stat();
    return await readHandleUpTo(handle, maxBytes + 1, size > 0 ? size + 1 : INITIAL_READ);
  } finally {
    await handle.close();
  }
}

/**
 * `EnvFs` over `node:fs`. `stat` is synchronous inside: the walk-up stats up to five names per
 * directory and most do not exist, and each asynchronous stat (a thread-pool round trip plus a
 * rejected promise with an ENOENT error) cost ~30 µs against ~2 µs for a local `statSync` with
 * `throwIfNoEntry: false` — 3 ms against 0.2 ms for a notebook 20 directories deep.
 */
export const nodeFs: EnvFs = {
  async stat(path) {
    try {
      const info = statSync(path, { throwIfNoEntry: false });
      if (!info) return null;
      return {
        kind: info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other',
        size: info.size,
      };
    } catch {
      // Dangling symlink, symlink loop, permission denied: all mean "not usable here".
      return null;
    }
  },
  readFile: readBounded,
};
