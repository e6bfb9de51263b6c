import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
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
  /** Interpreter path relative to the prefix, so the env survives its atomic rename. */
  python: z.string(),
});

/** Env hashes are opaque, but they become directory names: keep them path-safe. */
const ENV_HASH = /^[A-Za-z0-9_-]{1,128}$/;

export interface EnvCacheEntry {
  envHash: string;
  prefix: string;
  python: string;
  manager: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface EnvCacheGetOptions extends Omit<BuildEnvRequest, 'prefix'> {}

export interface EnvCache {
  readonly envsDir: string;
  /** A valid entry (interpreter present and completion marker written), without touching it. */
  lookup(envHash: string): EnvCacheEntry | undefined;
  /** Returns the cached env (touching last-used) or builds it; one build per hash at a time. */
  get(
    envHash: string,
    options?: EnvCacheGetOptions,
  ): Promise<{ entry: EnvCacheEntry; hit: boolean }>;
  list(): EnvCacheEntry[];
  /** Removes envs unused for `maxAgeDays`, then the least recently used beyond `maxCount`. */
  gc(options: { maxAgeDays?: number; maxCount?: number }): string[];
}

export interface EnvCacheOptions {
  cacheDir: string;
  builder: EnvBuilder;
  now?: () => number;
}

function assertHash(envHash: string): void {
  if (!ENV_HASH.test(envHash))
    throw new KernelError('env_hash_invalid', 'The environment hash is not a valid name');
}

/**
 * Environments at `<cacheDir>/envs/<envHash>`. Each is built in a temp dir beside its final
 * place and renamed in atomically, so a half-built env is never visible under its hash.
 */
export function createEnvCache(options: EnvCacheOptions): EnvCache {
  const envsDir = join(options.cacheDir, 'envs');
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, Promise<{ entry: EnvCacheEntry; hit: boolean }>>();

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

  async function build(
    envHash: string,
    request: EnvCacheGetOptions,
  ): Promise<{ entry: EnvCacheEntry; hit: boolean }> {
    mkdirSync(envsDir, { recursive: true });
    const temp = join(envsDir, `.tmp-${envHash}-${randomUUID().slice(0, 8)}`);
    let built: BuiltEnv;
    try {
      built = await options.builder.build({ ...request, prefix: temp });
      const marker = {
        envHash,
        createdAt: now(),
        manager: built.manager,
        python: relative(temp, built.python),
      };
      writeFileSync(join(temp, MARKER), `${JSON.stringify(marker)}\n`);
    } catch (error) {
      rmSync(temp, { recursive: true, force: true });
      throw error;
    }
    const final = join(envsDir, envHash);
    if (existsSync(final) && !read(envHash)) discard(final);
    try {
      renameSync(temp, final);
    } catch (error) {
      // Another process won the race: its env is as good as ours.
      rmSync(temp, { recursive: true, force: true });
      const winner = read(envHash);
      if (winner) return { entry: touch(winner), hit: false };
      throw new KernelError(
        'env_build_failed',
        'The environment could not be moved into the cache',
        { cause: error },
      );
    }
    const entry = read(envHash);
    if (!entry) throw new KernelError('env_build_failed', 'The cached environment is incomplete');
    return { entry: touch(entry), hit: false };
  }

  function list(): EnvCacheEntry[] {
    let names: string[];
    try {
      names = readdirSync(envsDir);
    } catch {
      return [];
    }
    return names
      .filter((name) => !name.startsWith('.') && ENV_HASH.test(name))
      .map((name) => read(name))
      .filter((entry): entry is EnvCacheEntry => entry !== undefined);
  }

  return {
    envsDir,
    lookup(envHash) {
      assertHash(envHash);
      return read(envHash);
    },
    get(envHash, request = {}) {
      assertHash(envHash);
      const existing = inFlight.get(envHash);
      if (existing) return existing.then(({ entry }) => ({ entry, hit: true }));
      const hit = read(envHash);
      if (hit) return Promise.resolve({ entry: touch(hit), hit: true });
      const promise = build(envHash, request).finally(() => inFlight.delete(envHash));
      inFlight.set(envHash, promise);
      return promise;
    },
    list,
    gc({ maxAgeDays, maxCount }) {
      const removed: string[] = [];
      const entries = list()
        .filter((entry) => !inFlight.has(entry.envHash))
        .sort((a, b) => b.lastUsedAt - a.lastUsedAt);
      const cutoff = maxAgeDays === undefined ? undefined : now() - maxAgeDays * 86_400_000;
      let kept = 0;
      for (const entry of entries) {
        const tooOld = cutoff !== undefined && entry.lastUsedAt < cutoff;
        const tooMany = maxCount !== undefined && kept >= maxCount;
        if (tooOld || tooMany) {
          discard(entry.prefix);
          removed.push(entry.envHash);
        } else {
          kept += 1;
        }
      }
      // Leftovers of builds that died with their process.
      try {
        for (const name of readdirSync(envsDir)) {
          if (!name.startsWith('.tmp-') && !name.startsWith('.trash-')) continue;
          const hash = name.startsWith('.tmp-') ? name.slice(5, name.lastIndexOf('-')) : '';
          if (inFlight.has(hash)) continue;
          const dir = join(envsDir, name);
          if (now() - statSync(dir).mtimeMs > 86_400_000)
            rmSync(dir, { recursive: true, force: true });
        }
      } catch {
        // No envs dir yet.
      }
      return removed;
    },
  };
}
