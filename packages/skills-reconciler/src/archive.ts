import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry, Unpack } from 'tar';
import { SkillsError, throwIfAborted } from './errors.js';

export interface ExtractSkillOptions {
  /** Folder of the skill inside the archive. */
  subpath?: string | undefined;
  /** Also look under a single top-level folder (GitHub and most release tarballs wrap one). */
  unwrap: boolean;
  /** Cap on the skill's extracted bytes (sum of file sizes). */
  maxSkillBytes: number;
  /** Cap on the number of entries of the skill. */
  maxEntries?: number;
  /** Cap on the whole archive's inflated bytes, skill or not (default 10 × `maxSkillBytes`). */
  maxInflatedBytes?: number | undefined;
  /** Cap on the whole archive's entries, skill or not (default 10,000). */
  maxArchiveEntries?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListArchiveOptions {
  /** Cap on inflated (uncompressed tar) bytes; listing stops as soon as it is passed. */
  maxInflatedBytes: number;
  /** Cap on entries of any kind. */
  maxEntries: number;
}

interface ListedEntry {
  path: string;
  type: string;
  size: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const ALLOWED_TYPES = new Set([...FILE_TYPES, 'Directory']);
const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MAX_ARCHIVE_ENTRIES = 10_000;
/** The inflated-bytes cap as a multiple of the extracted-skill cap. */
export const INFLATED_BYTES_FACTOR = 10;

function isGzip(data: Buffer): boolean {
  return data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
}

function inflatedTooLarge(max: number): SkillsError {
  return new SkillsError('archive_too_large', `the archive inflates to more than ${max} bytes`);
}

/**
 * An entry path as a clean relative posix path, or a refusal: absolute paths, drive letters,
 * backslashes and `..` never reach the filesystem.
 */
export function safeEntryPath(raw: string): string {
  if (raw.includes('\0') || raw.includes('\\')) {
    throw new SkillsError(
      'archive_unsafe',
      'the archive has an entry with a NUL or backslash in its path',
    );
  }
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) {
    throw new SkillsError('archive_unsafe', 'the archive has an entry with an absolute path');
  }
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new SkillsError('archive_unsafe', 'the archive has an entry whose path contains ".."');
  }
  return parts.join('/');
}

function checkType(entry: { type: string }): void {
  if (!ALLOWED_TYPES.has(entry.type)) {
    const kind =
      entry.type === 'SymbolicLink'
        ? 'a symbolic link'
        : entry.type === 'Link'
          ? 'a hard link'
          : entry.type === 'CharacterDevice' || entry.type === 'BlockDevice'
            ? 'a device file'
            : `an entry of type ${entry.type}`;
    throw new SkillsError(
      'archive_unsafe',
      `the archive contains ${kind}; only files and folders are allowed`,
    );
  }
}

/** Our own refusals pass through; anything tar throws means the bytes are not a readable archive. */
function asArchiveError(error: unknown): SkillsError {
  return error instanceof SkillsError
    ? error
    : new SkillsError('archive_invalid', 'the archive is not a readable tar/tar.gz file', {
        cause: error,
      });
}

function runParser(parser: Parser, data: Buffer, doneEvent: 'end' | 'close'): Promise<void> {
  return new Promise((resolve, reject) => {
    parser.on('error', (error: unknown) => reject(asArchiveError(error)));
    parser.on(doneEvent, () => resolve());
    parser.end(data);
  });
}

/**
 * Lists and checks every entry (even outside the skill folder) without writing anything.
 * The gzip layer is inflated here, chunk by chunk, so the inflated bytes and the entries are
 * counted as they come and a gzip bomb is stopped at the cap instead of being inflated whole.
 */
export async function listArchive(
  data: Buffer,
  options: ListArchiveOptions = {
    maxInflatedBytes: Number.POSITIVE_INFINITY,
    maxEntries: DEFAULT_MAX_ARCHIVE_ENTRIES,
  },
): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  let refusal: SkillsError | undefined;
  const parser = new Parser({
    strict: true,
    filter: (path: string, entry) => {
      if (refusal) return false;
      try {
        const read = entry as ReadEntry;
        if (entries.length >= options.maxEntries) {
          throw new SkillsError(
            'archive_too_large',
            `the archive has more than ${options.maxEntries} entries`,
          );
        }
        checkType(read);
        entries.push({ path: safeEntryPath(path), type: read.type, size: read.size ?? 0 });
      } catch (error) {
        refusal = error as SkillsError;
      }
      return false;
    },
  });
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('error', (error: unknown) => reject(asArchiveError(error)));
    parser.on('end', () => resolve());
  });
  // Settled below either way; never an unhandled rejection when we stop early.
  parsed.catch(() => undefined);
  if (!isGzip(data)) {
    if (data.byteLength > options.maxInflatedBytes)
      throw inflatedTooLarge(options.maxInflatedBytes);
    parser.end(data);
  } else {
    const gunzip = createGunzip();
    gunzip.end(data);
    let inflated = 0;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        inflated += chunk.byteLength;
        if (inflated > options.maxInflatedBytes) throw inflatedTooLarge(options.maxInflatedBytes);
        parser.write(chunk);
        if (refusal) throw refusal;
      }
    } catch (error) {
      gunzip.destroy();
      if (error instanceof SkillsError) throw error;
      throw new SkillsError('archive_invalid', 'the archive is not a readable tar/tar.gz file', {
        cause: error,
      });
    }
    parser.end();
  }
  await parsed;
  if (refusal) throw refusal;
  return entries;
}

function within(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

function choosePrefix(
  entries: ListedEntry[],
  subpath: string | undefined,
  unwrap: boolean,
): string {
  const files = new Set(entries.filter((e) => FILE_TYPES.has(e.type)).map((e) => e.path));
  const tops = new Set(entries.map((e) => e.path.split('/')[0]).filter((p) => p));
  const candidates = [subpath ?? ''];
  if (unwrap && tops.size === 1) {
    const [top] = [...tops];
    candidates.push(subpath ? `${top}/${subpath}` : (top ?? ''));
  }
  const found = candidates.find((c) => files.has(c === '' ? 'SKILL.md' : `${c}/SKILL.md`));
  if (found === undefined) {
    throw new SkillsError(
      'skill_invalid',
      subpath
        ? `the archive has no SKILL.md under "${subpath}"`
        : 'the archive has no SKILL.md at its root',
    );
  }
  return found;
}

/**
 * Extracts one skill folder from a tar/tar.gz buffer into `dest` (which must not exist).
 * Two passes: the first checks every entry and the caps and writes nothing; the second
 * extracts only the skill's entries through a filter that refuses anything unsafe again.
 */
export async function extractSkill(
  data: Buffer,
  dest: string,
  options: ExtractSkillOptions,
): Promise<void> {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const entries = await listArchive(data, {
    maxInflatedBytes: options.maxInflatedBytes ?? INFLATED_BYTES_FACTOR * options.maxSkillBytes,
    maxEntries: options.maxArchiveEntries ?? DEFAULT_MAX_ARCHIVE_ENTRIES,
  });
  throwIfAborted(options.signal);
  const prefix = choosePrefix(entries, options.subpath, options.unwrap);
  const inScope = entries.filter((e) => within(e.path, prefix));
  const declared = inScope.reduce((sum, e) => sum + (FILE_TYPES.has(e.type) ? e.size : 0), 0);
  if (declared > options.maxSkillBytes) {
    throw new SkillsError(
      'skill_too_large',
      `the skill is larger than ${options.maxSkillBytes} bytes`,
    );
  }
  if (inScope.length > maxEntries) {
    throw new SkillsError('skill_too_large', `the skill has more than ${maxEntries} entries`);
  }

  const scratch = `${dest}.extract`;
  await mkdir(scratch, { recursive: false, mode: 0o700 });
  try {
    let refusal: SkillsError | undefined;
    let written = 0;
    const unpack = new Unpack({
      cwd: scratch,
      strict: true,
      preserveOwner: false,
      filter: (path: string, entry) => {
        if (refusal) return false;
        try {
          const read = entry as ReadEntry;
          checkType(read);
          const clean = safeEntryPath(path);
          if (!within(clean, prefix)) return false;
          if (FILE_TYPES.has(read.type)) {
            written += read.size ?? 0;
            if (written > options.maxSkillBytes) {
              throw new SkillsError(
                'skill_too_large',
                `the skill is larger than ${options.maxSkillBytes} bytes`,
              );
            }
          }
          // Only the executable bit survives: no setuid/setgid/sticky or world-writable files.
          if (typeof read.mode === 'number') {
            const executable = (read.mode & 0o111) !== 0;
            read.mode = read.type === 'Directory' || executable ? 0o755 : 0o644;
          }
          return true;
        } catch (error) {
          refusal = error as SkillsError;
          return false;
        }
      },
    });
    await runParser(unpack, data, 'close');
    if (refusal) throw refusal;
    throwIfAborted(options.signal);
    await mkdir(prefix === '' ? scratch : join(scratch, prefix), { recursive: true });
    await rename(prefix === '' ? scratch : join(scratch, prefix), dest);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
