// Every file operation the runtime makes on a workspace path goes through here. The workspace is
// hostile: kernels (sandboxed too) and workers have it read-write and can put anything at any
// name at any moment — a symlink to a file outside, a FIFO, a directory swapped for a symlink
// between two of our calls. So no operation here ever resolves a name it has not checked:
//
// - paths are walked one component at a time from an opened handle of the root, each directory
//   opened with O_NOFOLLOW | O_DIRECTORY relative to the handle of its parent (through
//   `/proc/self/fd/<fd>/<name>`, Linux's openat: the magic link is the opened directory itself,
//   whatever has been renamed since), so a symlink at any component is refused, not followed;
// - the file is opened with O_NOFOLLOW | O_NONBLOCK and checked on the opened descriptor (fstat):
//   a regular file, within the size limit, before one byte is read. A FIFO, socket or device is
//   refused at once and never blocks; reads are asynchronous;
// - writes go to a temp file created (O_EXCL | O_NOFOLLOW) in the opened directory and are renamed
//   within that same directory handle, which was checked (by its /proc link) to be inside the
//   workspace at the moment of use.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  unlink,
} from 'node:fs/promises';
import { isAbsolute, relative as relativePath, sep } from 'node:path';
import { type EnvFs, readHandleUpTo } from '@runyard/env-detection';
import { RuntimeError } from '@runyard/runtime-registry';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_NOCTTY } =
  constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
/** Longest file name Linux filesystems take (bytes). */
export const MAX_NAME_BYTES = 255;
/** Temp files are `.<name>.<8 hex>.tmp`: the name part is cut so the whole stays a valid name. */
const TEMP_NAME = /^\.(.+)\.[0-9a-f]{8}\.tmp$/;

export type WorkspaceFileKind = 'file' | 'directory' | 'other';

export function unsafe(message: string): RuntimeError {
  return new RuntimeError('workspace_file_unsafe', message);
}

/** Splits a workspace-relative path into checked components (no `.`/`..`, no empty, ≤ 255 bytes). */
export function pathComponents(path: string): string[] {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0') || isAbsolute(path))
    throw new RuntimeError('invalid_request', 'The path must be a relative workspace path');
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..')
      throw new RuntimeError('invalid_request', 'The path must be a normalized workspace path');
    if (Buffer.byteLength(part) > MAX_NAME_BYTES)
      throw new RuntimeError(
        'invalid_request',
        `A path component is longer than ${MAX_NAME_BYTES} bytes`,
      );
  }
  return parts;
}

/** The temp file name for `name` (cut to fit the 255-byte limit). */
function tempName(name: string): string {
  let base = name;
  while (Buffer.byteLength(base) > MAX_NAME_BYTES - 15) base = base.slice(0, -1);
  return `.${base}.${randomBytes(4).toString('hex')}.tmp`;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** A typed error for what the OS said about a workspace path (never the host path itself). */
function translate(error: unknown, what: string): unknown {
  switch (errno(error)) {
    case 'ELOOP':
      return unsafe(`${what} is a symlink; the runtime does not follow symlinks in the workspace`);
    case 'ENOTDIR':
      return unsafe(`${what}: a path component is not a directory (or is a symlink)`);
    case 'EISDIR':
      return unsafe(`${what} is a directory`);
    case 'ENAMETOOLONG':
      return new RuntimeError('invalid_request', 'The path is too long');
    case 'ENOENT':
      return new RuntimeError('notebook_not_found', `${what} does not exist`);
    default:
      return error;
  }
}

/** The handle's path through /proc: what the descriptor is now, not what a name says. */
function procPath(handle: FileHandle, name?: string): string {
  return name === undefined ? `/proc/self/fd/${handle.fd}` : `/proc/self/fd/${handle.fd}/${name}`;
}

export interface ReadOptions {
  maxBytes: number;
  /** The error for a file over `maxBytes` (default `workspace_file_unsafe`). */
  tooLarge?: (size: number) => Error;
}

/**
 * Safe access to files under one workspace root (its real path). Linux only: the walk relies on
 * `/proc/self/fd`; a runtime elsewhere refuses at construction rather than run unchecked.
 */
export class WorkspaceFs {
  constructor(readonly root: string) {}

  /** The workspace-relative `/` path of an absolute path inside the root, else undefined. */
  relativeOf(absolute: string): string | undefined {
    const rel = relativePath(this.root, absolute);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
      return undefined;
    return rel.split(sep).join('/');
  }

  /** Checks an opened directory really is the root or below it (its /proc link). */
  private async assertInside(handle: FileHandle): Promise<void> {
    const real = await readlink(procPath(handle));
    if (
      real !== this.root &&
      !real.startsWith(this.root.endsWith(sep) ? this.root : `${this.root}${sep}`)
    )
      throw unsafe('A directory moved out of the workspace while in use');
  }

  /**
   * Opens the directory `parts` names, component by component, never following a symlink.
   * With `create`, missing directories are made (mkdir does not follow a final symlink either).
   */
  private async openDir(parts: readonly string[], create = false): Promise<FileHandle> {
    let dir = await open(this.root, DIR_FLAGS);
    try {
      for (const part of parts) {
        let next: FileHandle;
        try {
          next = await open(procPath(dir, part), DIR_FLAGS);
        } catch (error) {
          if (!(create && errno(error) === 'ENOENT'))
            throw translate(error, 'A directory on the path');
          try {
            await mkdir(procPath(dir, part), 0o755);
          } catch (made) {
            if (errno(made) !== 'EEXIST') throw translate(made, 'A directory on the path');
          }
          try {
            next = await open(procPath(dir, part), DIR_FLAGS);
          } catch (again) {
            throw translate(again, 'A directory on the path');
          }
        }
        await dir.close();
        dir = next;
      }
      await this.assertInside(dir);
      return dir;
    } catch (error) {
      await dir.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Opens a regular file for reading and checks it on the descriptor; `null` when nothing is
   * there. Never blocks on a FIFO (O_NONBLOCK) and never follows a symlink.
   */
  private async openFile(
    path: string,
  ): Promise<{ handle: FileHandle; size: number; mode: number } | null> {
    const parts = pathComponents(path);
    const name = parts.pop() as string;
    let dir: FileHandle;
    try {
      dir = await this.openDir(parts);
    } catch (error) {
      if (error instanceof RuntimeError && error.code === 'notebook_not_found') return null;
      throw error;
    }
    let handle: FileHandle;
    try {
      handle = await open(procPath(dir, name), READ_FLAGS);
    } catch (error) {
      if (errno(error) === 'ENOENT') return null;
      throw translate(error, 'The file');
    } finally {
      await dir.close();
    }
    try {
      const info = await handle.stat();
      if (info.isDirectory()) throw unsafe('The path is a directory, not a file');
      if (!info.isFile())
        throw unsafe('The path is not a regular file (a FIFO, socket or device is refused)');
      return { handle, size: info.size, mode: info.mode & 0o777 };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /**
   * The bytes of a regular file, `null` when it does not exist. The size is checked on the
   * opened file before reading, and reading stops one byte past the limit if it grew since.
   */
  async readFile(path: string, options: ReadOptions): Promise<Buffer | null> {
    const tooLarge =
      options.tooLarge ??
      ((size: number) => unsafe(`The file is ${size} bytes; the limit is ${options.maxBytes}`));
    const opened = await this.openFile(path);
    if (!opened) return null;
    const { handle, size } = opened;
    try {
      if (size > options.maxBytes) throw tooLarge(size);
      const bytes = await readHandleUpTo(handle, options.maxBytes + 1, size + 1);
      if (bytes.length > options.maxBytes) throw tooLarge(bytes.length);
      return bytes;
    } finally {
      await handle.close();
    }
  }

  /**
   * The opened directory `path` names its entry in, and that entry's name; `null` when the
   * directory cannot be opened (absent, or not a directory reached without symlinks).
   */
  private async openParent(path: string): Promise<{ dir: FileHandle; name: string } | null> {
    const parts = pathComponents(path);
    const name = parts.pop() as string;
    try {
      return { dir: await this.openDir(parts), name };
    } catch {
      return null;
    }
  }

  /** What is at `path` without following any symlink, `null` when nothing usable is there. */
  async stat(path: string): Promise<{ kind: WorkspaceFileKind; size: number } | null> {
    const parent = await this.openParent(path);
    if (!parent) return null;
    const { dir, name } = parent;
    try {
      const info = await lstat(procPath(dir, name));
      return {
        kind: info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other',
        size: info.size,
      };
    } catch {
      return null;
    } finally {
      await dir.close();
    }
  }

  /**
   * Replaces (or creates) a regular file atomically: a temp file in the opened parent directory
   * (same mode as the file it replaces), fsynced, renamed over the name within that directory.
   * A reader sees the old or the new bytes; anything but a regular file at the name is refused.
   */
  async writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options: { createParents?: boolean } = {},
  ): Promise<void> {
    const parts = pathComponents(path);
    const name = parts.pop() as string;
    const dir = await this.openDir(parts, options.createParents ?? false);
    try {
      let mode = 0o644;
      try {
        const existing = await lstat(procPath(dir, name));
        if (existing.isDirectory()) throw unsafe('The path is a directory, not a file');
        if (!existing.isFile() && !existing.isSymbolicLink())
          throw unsafe('The path is not a regular file (a FIFO, socket or device is refused)');
        // A symlink at the name is replaced by the rename, never written through.
        if (existing.isFile()) mode = existing.mode & 0o777;
      } catch (error) {
        if (errno(error) !== 'ENOENT') throw translate(error, 'The file');
      }
      const temp = tempName(name);
      const tempPath = procPath(dir, temp);
      const handle = await open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } catch (error) {
        await handle.close().catch(() => undefined);
        await unlink(tempPath).catch(() => undefined);
        throw error;
      } finally {
        // (a second close of a closed handle is harmless and caught)
        await handle.close().catch(() => undefined);
      }
      try {
        // Re-checked at the moment of use: the directory we write in is still the workspace's.
        await this.assertInside(dir);
        await rename(tempPath, procPath(dir, name));
      } catch (error) {
        await unlink(tempPath).catch(() => undefined);
        throw translate(error, 'The file');
      }
    } finally {
      await dir.close();
    }
  }

  /**
   * Removes the temp files a killed writer left beside `path` (`.<name>.<8 hex>.tmp`, the names
   * `writeFileAtomic` makes for this file and no other). Returns how many were removed.
   */
  async removeStaleTemps(path: string): Promise<number> {
    const parent = await this.openParent(path);
    if (!parent) return 0;
    const { dir, name } = parent;
    let removed = 0;
    try {
      const prefix = tempName(name).replace(/\.[0-9a-f]{8}\.tmp$/, '');
      for (const entry of await readdir(procPath(dir))) {
        const match = TEMP_NAME.exec(entry);
        if (!match || `.${match[1]}` !== prefix) continue;
        try {
          // unlink never follows the final name: a symlink named like a temp file goes, not its target.
          await unlink(procPath(dir, entry));
          removed++;
        } catch {
          // gone already, or a directory someone named like a temp file: not ours
        }
      }
    } finally {
      await dir.close();
    }
    return removed;
  }
}

/**
 * The `EnvFs` environment detection walks with: the same no-symlink, regular-file-only rules,
 * confined to the workspace (detection never looks above the root; a path outside is absent).
 */
export function workspaceEnvFs(files: WorkspaceFs): EnvFs {
  return {
    async stat(path) {
      const rel = files.relativeOf(path);
      if (rel === undefined) return null;
      return files.stat(rel).catch(() => null);
    },
    async readFile(path, maxBytes) {
      const rel = files.relativeOf(path);
      if (rel === undefined) throw unsafe('The file is outside the workspace');
      const bytes = await files.readFile(rel, { maxBytes });
      if (bytes === null) throw new RuntimeError('notebook_not_found', 'The file is gone');
      return bytes;
    },
  };
}
