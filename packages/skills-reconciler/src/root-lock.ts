import { randomBytes } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAbortError, SkillsError, throwIfAborted } from './errors.js';

/**
 * A skills root (above all the user root `~/.claude/skills`) is shared by every workspace and
 * process of the user. Recovery, staging and the JSON inventory's read-modify-write are only
 * safe with one applying pass per root at a time, across processes: this file is that lock.
 */
export const LOCK_FILE = '.runyard-lock';

/** A process, told apart from a later one that reused its pid by its start time (Linux). */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot (`/proc/<pid>/stat` field 22), when known. */
  start?: string | undefined;
}

export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces and parentheses) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19];
    return start && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let self: ProcessIdentity | undefined;

export function selfIdentity(): ProcessIdentity {
  self ??= { pid: process.pid, start: processStart(process.pid) };
  return self;
}

/** False only when the process is certainly gone (no such pid, or the pid was reused). */
export function isAlive(owner: ProcessIdentity): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (owner.start !== undefined) {
    const now = processStart(owner.pid);
    if (now !== undefined && now !== owner.start) return false;
  }
  return true;
}

interface LockContent extends ProcessIdentity {
  token: string;
}

function parseLock(text: string): LockContent | undefined {
  try {
    const data = JSON.parse(text) as Partial<LockContent>;
    if (typeof data.pid !== 'number' || !Number.isInteger(data.pid) || data.pid <= 0) return;
    if (typeof data.token !== 'string') return;
    return {
      pid: data.pid,
      start: typeof data.start === 'string' ? data.start : undefined,
      token: data.token,
    };
  } catch {
    return undefined;
  }
}

/**
 * Creates the lock atomically with its full content: the content is written to a private
 * file first and hard-linked into place (`link` fails with EEXIST like `O_EXCL`), so no
 * reader ever sees an empty or half-written lock.
 */
function tryCreate(path: string, content: string): boolean {
  const temp = `${path}.${randomBytes(6).toString('hex')}.new`;
  writeFileSync(temp, content, { flag: 'wx', mode: 0o644 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

function readHolder(path: string): { content?: LockContent; ino: number } | undefined {
  try {
    const ino = lstatSync(path).ino;
    const content = parseLock(readFileSync(path, 'utf8'));
    return content ? { content, ino } : { ino };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Removes a lock whose owner is dead. The lock is first renamed aside (atomic) and only
 * deleted if it is the very file judged stale (same inode): if another process broke it and
 * took the lock in between, its fresh lock is put back instead of being deleted.
 */
function breakStale(path: string, staleIno: number): void {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    if (lstatSync(aside).ino !== staleIno) {
      try {
        linkSync(aside, path);
      } catch {
        // Someone created a lock meanwhile; the displaced holder notices at release.
      }
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

export interface RootLock {
  release(): void;
}

export interface AcquireOptions {
  signal?: AbortSignal | undefined;
  /** Called once when the lock is held by another live pass (this one waits). */
  onWait?: (() => void) | undefined;
}

/**
 * Takes the root's lock, waiting (abortably) while a live process holds it. A lock whose
 * owner is dead — killed mid-pass — is taken over. Same-process passes wait too: the lock is
 * not re-entrant, so two reconcilers in one process never apply to one root at once.
 */
export async function acquireRootLock(
  root: string,
  options: AcquireOptions = {},
): Promise<RootLock> {
  mkdirSync(root, { recursive: true });
  const path = join(root, LOCK_FILE);
  const me = selfIdentity();
  const token = randomBytes(12).toString('hex');
  const content = JSON.stringify({ pid: me.pid, start: me.start, token });
  let delay = 10;
  let waiting = false;
  for (;;) {
    throwIfAborted(options.signal);
    if (tryCreate(path, content)) {
      return {
        release() {
          // Only our own lock: never one that replaced ours.
          if (readHolder(path)?.content?.token === token) unlinkSync(path);
        },
      };
    }
    const holder = readHolder(path);
    if (holder === undefined) continue;
    if (holder.content === undefined || !isAlive(holder.content)) {
      breakStale(path, holder.ino);
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.();
    }
    try {
      await sleep(delay, undefined, { signal: options.signal });
    } catch (error) {
      if (isAbortError(error)) throw new SkillsError('aborted', 'the pass was stopped');
      throw error;
    }
    delay = Math.min(delay * 2, 250);
  }
}

/** `<prefix><pid>-<start>-` : the owner of a staging folder, readable from its name. */
export function ownerTag(): string {
  const me = selfIdentity();
  return `${me.pid}-${me.start ?? 'x'}-`;
}

/** The owner encoded in a staging folder name, or undefined for an older, untagged name. */
export function parseOwnerTag(rest: string): ProcessIdentity | undefined {
  const match = /^(\d+)-(\d+|x)-/.exec(rest);
  if (!match) return undefined;
  const pid = Number(match[1]);
  return { pid, start: match[2] === 'x' ? undefined : match[2] };
}
