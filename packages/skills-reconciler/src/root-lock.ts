import { randomBytes } from 'node:crypto';
import {
  linkSync,
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

function selfIdentity(): ProcessIdentity {
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
  // Named after its owner, so a process killed right here leaves a file recovery can judge.
  const temp = `${path}.${ownerTag()}${randomBytes(6).toString('hex')}.new`;
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

function readHolder(path: string): { content?: LockContent | undefined } | undefined {
  try {
    return { content: parseLock(readFileSync(path, 'utf8')) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** A lock that was never written whole (a crash or a foreign file) or whose owner is gone. */
function isStale(holder: { content?: LockContent | undefined }): boolean {
  return holder.content === undefined || !isAlive(holder.content);
}

/**
 * Renames `path` aside and deletes it if it is (still) stale; a live one that replaced it in
 * between is put back. Used only for the breaker below, whose holder dies only if killed
 * inside a few synchronous file calls.
 */
function renameAsideIfStale(path: string): void {
  const aside = `${path}.${ownerTag()}${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const holder = readHolder(aside);
    if (holder && !isStale(holder)) {
      try {
        linkSync(aside, path);
      } catch {
        // A new breaker exists meanwhile: the displaced one's lock work is re-judged anyway.
      }
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

/**
 * Removes a stale lock. Only the holder of `<lock>.break` may delete the lock, and it re-reads
 * and re-judges the lock under it: a dead owner cannot change its lock and every other breaker
 * is excluded, so the file judged stale is the file deleted — a live lock is never deleted
 * (not even one that reused the inode of a stale one). Returns false when another live process
 * is breaking it (the caller waits a moment).
 */
function breakStale(path: string, content: string): boolean {
  const breaker = `${path}.break`;
  if (!tryCreate(breaker, content)) {
    const holder = readHolder(breaker);
    if (holder === undefined) return true;
    if (isStale(holder)) {
      renameAsideIfStale(breaker);
      return true;
    }
    return false;
  }
  try {
    const holder = readHolder(path);
    if (holder && isStale(holder)) unlinkSync(path);
    return true;
  } finally {
    rmSync(breaker, { force: true });
  }
}

export interface RootLock {
  release(): void;
}

export interface AcquireOptions {
  signal?: AbortSignal | undefined;
  /** Called once when the lock is held by another live pass (this one waits). */
  onWait?: (() => void) | undefined;
  /** Longest wait for a live holder before `skills_root_locked` (default: no bound). */
  waitMs?: number | undefined;
  /** Names the root in the error message (never its path). */
  label?: string | undefined;
}

/**
 * Takes the root's lock, waiting (abortably, at most `waitMs`) while a live process holds it,
 * then failing with `skills_root_locked`. A lock whose owner is dead — killed mid-pass — is
 * taken over. Same-process passes wait too: the lock is not re-entrant, so two reconcilers in
 * one process never apply to one root at once.
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
  // A monotonic clock: the bound must not move with wall-clock adjustments.
  const deadline = performance.now() + (options.waitMs ?? Number.POSITIVE_INFINITY);
  let delay = 10;
  let waiting = false;
  for (;;) {
    throwIfAborted(options.signal);
    if (tryCreate(path, content)) {
      return {
        release() {
          // Only our own lock: never one that replaced ours. Never throws: it runs in a
          // `finally`, and a root deleted under us has no lock left to release.
          try {
            if (readHolder(path)?.content?.token === token) unlinkSync(path);
          } catch {
            // Nothing to release.
          }
        },
      };
    }
    const holder = readHolder(path);
    if (holder === undefined) continue;
    if (isStale(holder) && breakStale(path, content)) continue;
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      // A stale lock still here means another live process is breaking it.
      const owner = holder.content && !isStale(holder) ? ` (pid ${holder.content.pid})` : '';
      throw new SkillsError(
        'skills_root_locked',
        `${options.label ?? 'the skills root'} is locked by another running pass${owner}`,
      );
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.();
    }
    try {
      await sleep(Math.min(delay, remaining), undefined, { signal: options.signal });
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

/**
 * The owner of a lock temp file a killed process may leave (`<LOCK_FILE>[.break].<tag><hex>`
 * ending `.new` or `.stale`); undefined when untagged, null when `entry` is no such file.
 */
export function lockLeftoverOwner(entry: string): ProcessIdentity | undefined | null {
  if (!entry.startsWith(`${LOCK_FILE}.`) || !/\.(new|stale)$/.test(entry)) return null;
  const rest = entry.slice(LOCK_FILE.length + 1);
  return parseOwnerTag(rest.startsWith('break.') ? rest.slice('break.'.length) : rest);
}

/** The owner encoded in a staging folder name, or undefined for an older, untagged name. */
export function parseOwnerTag(rest: string): ProcessIdentity | undefined {
  const match = /^(\d+)-(\d+|x)-/.exec(rest);
  if (!match) return undefined;
  const pid = Number(match[1]);
  return { pid, start: match[2] === 'x' ? undefined : match[2] };
}
