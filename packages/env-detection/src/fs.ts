import { open, stat } from 'node:fs/promises';

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

async function readBounded(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    // One byte more than allowed is enough to know the file is too big without reading it all.
    const buffer = Buffer.alloc(maxBytes + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** `EnvFs` over `node:fs`. */
export const nodeFs: EnvFs = {
  async stat(path) {
    try {
      const info = await stat(path);
      return {
        kind: info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other',
        size: info.size,
      };
    } catch {
      // Missing, dangling symlink, symlink loop, permission denied: all mean "not usable here".
      return null;
    }
  },
  readFile: readBounded,
};
