import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { BuildEnvRequest, BuiltEnv, EnvBuilder } from './env-builder.js';
import { KernelError } from './errors.js';

const MARKER = '.runyard-env.json';
const markerSchema = z.object({
  envHash: z.string(),
  createdAt: z.number(),
  manager: z.string(),
  /** Interpreter path relative to the prefix. */
  python: z.string(),
});
const ownerSchema = z.object({ pid: z.number().int().positive() });

/** Env hashes are opaque, but they become directory names: keep them path-safe. */
const ENV_HASH = /^[A-Za-z0-9_-]{1,128}$/;
const BUILDING = /^\.([A-Za-z0-9_-]{1,128})\.building$/;
const LEASE = /^\.([A-Za-z0-9_-]{1,128})\.use-(\d+)$/;
const WAIT_MS = 200;

export interface EnvCacheEntry {
  envHash: string;
  prefix: string;
  python: string;
  manager: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface EnvCacheGetOptions extends Omit<BuildEnvRequest, 'prefix'> {}

export interface EnvCacheGetResult {
  entry: EnvCacheEntry;
  hit: boolean;
  /**
   * Ends this caller's use of the env. Until every caller that got it has released it, `gc`
   * leaves it alone (in this process and in any other live process sharing the cache).
   */
  release(): void;
}

export interface EnvCache {
  readonly envsDir: string;
  /** A valid entry (interpreter present and completion marker written), without touching it. */
  lookup(envHash: string): EnvCacheEntry | undefined;
  /**
   * Returns the cached env (touching last-used) or builds it; one build per hash at a time,
   * across processes. The env is in use until `release()` is called.
   */
  get(envHash: string, options?: EnvCacheGetOptions): Promise<EnvCacheGetResult>;
  /** Whether some live process (this one included) holds the env. */
  inUse(envHash: string): boolean;
  list(): EnvCacheEntry[];
  /**
   * Removes envs unused for `maxAgeDays`, then the least recently used beyond `maxCount`. Never
   * removes an env that is in use or being built. Also runs `recover`.
   */
  gc(options: { maxAgeDays?: number; maxCount?: number }): string[];
  /** Deletes builds whose builder process died (their `building` marker outlived it). */
  recover(): string[];
}

export interface EnvCacheOptions {
  cacheDir: string;
  builder: EnvBuilder;
  now?: () => number;
  /** Process liveness, injectable for tests. Default: `process.kill(pid, 0)`. */
  isAlive?: (pid: number) => boolean;
}

function assertHash(envHash: string): void {
  if (!ENV_HASH.test(envHash))
    throw new KernelError('env_hash_invalid', 'The environment hash is not a valid name');
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Environments at `<cacheDir>/envs/<envHash>`, built IN PLACE: venvs and conda envs embed their
 * absolute prefix (script shebangs, activate scripts, conda's prefix-replaced files), so a
 * renamed env has broken scripts. While a build runs, the sibling file `.<envHash>.building`
 * (created exclusively, holding the builder's pid) is both the lock and the "incomplete" flag;
 * the completion marker `.runyard-env.json` inside the env is written last. A `building` marker
 * whose process is gone means an interrupted build: its env is deleted and rebuilt.
 * Uses are leased with `.<envHash>.use-<pid>` files so `gc` in any process skips them.
 */
export function createEnvCache(options: EnvCacheOptions): EnvCache {
  const envsDir = join(options.cacheDir, 'envs');
  const now = options.now ?? Date.now;
  const isAlive = options.isAlive ?? defaultIsAlive;
  const inFlight = new Map<string, Promise<{ entry: EnvCacheEntry; hit: boolean }>>();
  const leases = new Map<string, number>();
  /** Hashes whose build lock this cache holds. */
  const held = new Set<string>();

  const buildingFile = (envHash: string) => join(envsDir, `.${envHash}.building`);
  const leaseFile = (envHash: string) => join(envsDir, `.${envHash}.use-${process.pid}`);

  function read(envHash: string): EnvCacheEntry | undefined {
    const prefix = join(envsDir, envHash);
    const markerFile = join(prefix, MARKER);
    try {
      const marker = markerSchema.parse(JSON.parse(readFileSync(markerFile, 'utf8')));
      if (marker.envHash !== envHash) return undefined;
      const python = join(prefix, marker.python);
      if (!existsSync(python)) return undefined;
      return {
        envHash,
        prefix,
        python,
        manager: marker.manager,
        createdAt: marker.createdAt,
        lastUsedAt: statSync(markerFile).mtimeMs,
      };
    } catch {
      return undefined;
    }
  }

  function touch(entry: EnvCacheEntry): EnvCacheEntry {
    const at = now();
    try {
      utimesSync(join(entry.prefix, MARKER), at / 1000, at / 1000);
    } catch {
      // Last-used is advisory; a read-only cache still serves hits.
    }
    return { ...entry, lastUsedAt: at };
  }

  /** Moves a directory out of the way before deleting it so no reader sees it half-removed. */
  function discard(dir: string): void {
    const trash = join(envsDir, `.trash-${randomUUID()}`);
    try {
      renameSync(dir, trash);
      rmSync(trash, { recursive: true, force: true });
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Who holds the build lock: nobody, a live process, or a process that died mid-build. */
  function builder(envHash: string): 'none' | 'alive' | 'dead' {
    let text: string;
    try {
      text = readFileSync(buildingFile(envHash), 'utf8');
    } catch {
      return 'none';
    }
    try {
      const { pid } = ownerSchema.parse(JSON.parse(text));
      // Our own pid on a marker we do not hold: a crashed process that had the same pid.
      if (pid === process.pid) return held.has(envHash) ? 'alive' : 'dead';
      return isAlive(pid) ? 'alive' : 'dead';
    } catch {
      // A marker torn by a crash mid-write: its owner is gone.
      return 'dead';
    }
  }

  /**
   * Clears an interrupted build: its marker, and its env unless that env is complete (the
   * builder died after writing the completion marker). Rechecks right before deleting so a
   * build that just finished or just started is left alone.
   */
  function clearDead(envHash: string): boolean {
    if (held.has(envHash) || builder(envHash) !== 'dead') return false;
    const prefix = join(envsDir, envHash);
    if (!read(envHash) && existsSync(prefix)) discard(prefix);
    if (builder(envHash) === 'dead') rmSync(buildingFile(envHash), { force: true });
    return true;
  }

  function lease(envHash: string): () => void {
    const count = leases.get(envHash) ?? 0;
    leases.set(envHash, count + 1);
    if (count === 0) {
      try {
        mkdirSync(envsDir, { recursive: true });
        writeFileSync(leaseFile(envHash), `${process.pid}\n`);
      } catch {
        // In-process leases still protect against this process's gc.
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (leases.get(envHash) ?? 1) - 1;
      if (left > 0) {
        leases.set(envHash, left);
        return;
      }
      leases.delete(envHash);
      rmSync(leaseFile(envHash), { force: true });
    };
  }

  /** Entries of the envs directory; none while it does not exist yet. */
  function envNames(): string[] {
    try {
      return readdirSync(envsDir);
    } catch {
      return [];
    }
  }

  function inUse(envHash: string): boolean {
    if ((leases.get(envHash) ?? 0) > 0) return true;
    for (const name of envNames()) {
      const match = LEASE.exec(name);
      if (match?.[1] !== envHash) continue;
      const pid = Number(match[2]);
      if (pid !== process.pid && isAlive(pid)) return true;
    }
    return false;
  }

  /** Takes the build lock, waiting while another live process holds it. */
  async function lock(envHash: string, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (signal?.aborted)
        throw new KernelError('env_build_aborted', 'The environment build was aborted');
      let fd: number | undefined;
      try {
        fd = openSync(buildingFile(envHash), 'wx', 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new KernelError('env_build_failed', 'The environment cache is not writable', {
            cause: error,
          });
        }
      }
      if (fd !== undefined) {
        try {
          held.add(envHash);
          writeSync(fd, `${JSON.stringify({ pid: process.pid })}\n`);
        } catch (error) {
          held.delete(envHash);
          rmSync(buildingFile(envHash), { force: true });
          throw new KernelError('env_build_failed', 'The environment cache is not writable', {
            cause: error,
          });
        } finally {
          closeSync(fd);
        }
        return;
      }
      // Gone (finished) or dead (interrupted, now cleared): contend for the lock again.
      if (builder(envHash) !== 'alive') {
        clearDead(envHash);
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
    }
  }

  async function build(
    envHash: string,
    request: EnvCacheGetOptions,
  ): Promise<{ entry: EnvCacheEntry; hit: boolean }> {
    mkdirSync(envsDir, { recursive: true });
    await lock(envHash, request.signal);
    const prefix = join(envsDir, envHash);
    try {
      // Another process may have finished it while we waited for the lock.
      const done = read(envHash);
      if (done) return { entry: touch(done), hit: true };
      if (existsSync(prefix)) discard(prefix);
      let built: BuiltEnv;
      try {
        built = await options.builder.build({ ...request, prefix });
        const marker = {
          envHash,
          createdAt: now(),
          manager: built.manager,
          python: relative(prefix, built.python),
        };
        writeFileSync(join(prefix, MARKER), `${JSON.stringify(marker)}\n`);
      } catch (error) {
        rmSync(prefix, { recursive: true, force: true });
        throw error;
      }
      const entry = read(envHash);
      if (!entry) throw new KernelError('env_build_failed', 'The cached environment is incomplete');
      return { entry: touch(entry), hit: false };
    } finally {
      held.delete(envHash);
      try {
        unlinkSync(buildingFile(envHash));
      } catch {
        // Already gone: nothing to release.
      }
    }
  }

  function list(): EnvCacheEntry[] {
    return envNames()
      .filter((name) => !name.startsWith('.') && ENV_HASH.test(name))
      .map((name) => read(name))
      .filter((entry): entry is EnvCacheEntry => entry !== undefined);
  }

  function recover(): string[] {
    const removed: string[] = [];
    for (const name of envNames()) {
      const building = BUILDING.exec(name)?.[1];
      if (building !== undefined) {
        if (clearDead(building)) removed.push(building);
        continue;
      }
      const leased = LEASE.exec(name);
      if (leased && Number(leased[2]) !== process.pid && !isAlive(Number(leased[2]))) {
        rmSync(join(envsDir, name), { force: true });
        continue;
      }
      // `.trash-` is mid-delete by definition; `.tmp-` is what older versions built into.
      if (name.startsWith('.trash-') || name.startsWith('.tmp-'))
        rmSync(join(envsDir, name), { recursive: true, force: true });
    }
    return removed;
  }

  return {
    envsDir,
    lookup(envHash) {
      assertHash(envHash);
      return read(envHash);
    },
    async get(envHash, request = {}) {
      assertHash(envHash);
      // Lease first: gc running while we wait for a build must not take the env away.
      const release = lease(envHash);
      try {
        const existing = inFlight.get(envHash);
        if (existing) {
          const { entry } = await existing;
          return { entry, hit: true, release };
        }
        const hit = read(envHash);
        if (hit && builder(envHash) !== 'alive') return { entry: touch(hit), hit: true, release };
        const promise = build(envHash, request).finally(() => inFlight.delete(envHash));
        inFlight.set(envHash, promise);
        const result = await promise;
        return { ...result, release };
      } catch (error) {
        release();
        throw error;
      }
    },
    inUse,
    list,
    recover,
    gc({ maxAgeDays, maxCount }) {
      recover();
      const removed: string[] = [];
      const entries = list().sort((a, b) => b.lastUsedAt - a.lastUsedAt);
      const cutoff = maxAgeDays === undefined ? undefined : now() - maxAgeDays * 86_400_000;
      let kept = 0;
      for (const entry of entries) {
        const busy =
          inFlight.has(entry.envHash) || builder(entry.envHash) === 'alive' || inUse(entry.envHash);
        const tooOld = cutoff !== undefined && entry.lastUsedAt < cutoff;
        const tooMany = maxCount !== undefined && kept >= maxCount;
        if (!busy && (tooOld || tooMany)) {
          discard(entry.prefix);
          removed.push(entry.envHash);
        } else {
          kept += 1;
        }
      }
      return removed;
    },
  };
}
