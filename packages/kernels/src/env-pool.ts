import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { z } from 'zod';
import { Backoff, type BackoffOptions, Wakeup } from './backoff.js';
import type { EnvBuilder, EnvManager } from './env-builder.js';

const MARKER = '.runyard-pool.json';
const markerSchema = z.object({ poolHash: z.string(), createdAt: z.number(), python: z.string() });

export const DEFAULT_POOL_MAX_AGE_MS = 2 * 86_400_000;

/** Hash of what a pooled env contains: sorted base packages + manager + platform + arch. */
export function poolPackageHash(input: {
  packages: readonly string[];
  manager: string;
  platform: string;
  arch: string;
}): string {
  const packages = [...new Set(input.packages.map((p) => p.trim()).filter(Boolean))].sort();
  return createHash('sha256')
    .update(
      JSON.stringify({
        packages,
        manager: input.manager,
        platform: input.platform,
        arch: input.arch,
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

export interface PooledEnv {
  id: string;
  manager: EnvManager;
  prefix: string;
  python: string;
  poolHash: string;
  createdAt: number;
}

export type EnvPoolEvent =
  | { type: 'warmed'; manager: EnvManager; id: string }
  | { type: 'build_failed'; manager: EnvManager; error: unknown; retryInMs: number }
  | { type: 'retired'; manager: EnvManager; id: string; reason: 'stale_packages' | 'max_age' }
  | { type: 'claimed'; manager: EnvManager; id: string };

export interface EnvPoolOptions {
  /** Pool lives at `<poolDir>/<manager>/<id>`. */
  poolDir: string;
  /** One builder per available manager (see `availableEnvManagers`). */
  builders: EnvBuilder[];
  /** Base packages installed in every pooled env. */
  packages?: string[];
  /** Warm envs per manager; default 2. */
  size?: number;
  maxAgeMs?: number;
  now?: () => number;
  platform?: string;
  arch?: string;
  backoff?: BackoffOptions;
  onEvent?: (event: EnvPoolEvent) => void;
}

export interface EnvPool {
  start(): void;
  /** Takes a warm env matching the current packages at once, or undefined. Never waits for a build. */
  claim(options?: { manager?: EnvManager; into?: string }): PooledEnv | undefined;
  /** Changes the base packages; stale envs are retired only once replacements are warm. */
  setPackages(packages: string[]): void;
  status(): Record<string, { poolHash: string; ready: number; stale: number; warming: boolean }>;
  /** Resolves when every manager has `size` matching envs and no stale ones (or is backing off). */
  whenSettled(): Promise<void>;
  stop(): Promise<void>;
}

interface ManagerState {
  builder: EnvBuilder;
  dir: string;
  ready: PooledEnv[];
  warming: boolean;
  backoff: Backoff;
  wake: Wakeup;
  abort?: AbortController;
  loop?: Promise<void>;
}

/**
 * N prewarmed environments per manager, replenished in the background. A claim only ever reads
 * memory; builds run in a loop per manager that backs off on failure.
 */
export function createEnvPool(options: EnvPoolOptions): EnvPool {
  const size = options.size ?? 2;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_POOL_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  let packages = [...(options.packages ?? [])];
  let running = false;
  const settledWaiters = new Set<() => void>();
  const states = new Map<EnvManager, ManagerState>();
  for (const builder of options.builders) {
    states.set(builder.kind, {
      builder,
      dir: join(options.poolDir, builder.kind),
      ready: [],
      warming: false,
      backoff: new Backoff(options.backoff),
      wake: new Wakeup(),
    });
  }

  const emit = (event: EnvPoolEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // observers must not break the pool
    }
  };
  const hashFor = (manager: EnvManager) => poolPackageHash({ packages, manager, platform, arch });

  function load(manager: EnvManager, state: ManagerState): void {
    state.ready = [];
    let names: string[] = [];
    try {
      names = readdirSync(state.dir);
    } catch {
      return;
    }
    for (const id of names) {
      const prefix = join(state.dir, id);
      if (id.startsWith('.')) {
        // A build that died with its process.
        rmSync(prefix, { recursive: true, force: true });
        continue;
      }
      try {
        const marker = markerSchema.parse(JSON.parse(readFileSync(join(prefix, MARKER), 'utf8')));
        const python = join(prefix, marker.python);
        if (!existsSync(python)) throw new Error('no interpreter');
        state.ready.push({
          id,
          manager,
          prefix,
          python,
          poolHash: marker.poolHash,
          createdAt: marker.createdAt,
        });
      } catch {
        rmSync(prefix, { recursive: true, force: true });
      }
    }
  }

  function retire(state: ManagerState, env: PooledEnv, reason: 'stale_packages' | 'max_age'): void {
    state.ready = state.ready.filter((e) => e !== env);
    rmSync(env.prefix, { recursive: true, force: true });
    emit({ type: 'retired', manager: env.manager, id: env.id, reason });
  }

  function maintain(manager: EnvManager, state: ManagerState): number {
    for (const env of [...state.ready])
      if (now() - env.createdAt > maxAgeMs) retire(state, env, 'max_age');
    const hash = hashFor(manager);
    const matching = state.ready.filter((env) => env.poolHash === hash).length;
    // Stale envs go only once their replacements are warm.
    if (matching >= size) {
      for (const env of state.ready.filter((e) => e.poolHash !== hash))
        retire(state, env, 'stale_packages');
    }
    return matching;
  }

  function isSettled(): boolean {
    for (const [manager, state] of states) {
      if (state.backoff.failing) continue;
      const hash = hashFor(manager);
      const matching = state.ready.filter((e) => e.poolHash === hash).length;
      if (matching < size || state.ready.length !== matching || state.warming) return false;
    }
    return true;
  }

  function notifySettled(): void {
    if (!isSettled()) return;
    for (const resolve of settledWaiters) resolve();
    settledWaiters.clear();
  }

  async function warmOne(manager: EnvManager, state: ManagerState): Promise<void> {
    const hash = hashFor(manager);
    const id = randomUUID().slice(0, 12);
    // Built in place (envs embed their absolute prefix); the marker, written last, is what makes
    // it a pooled env: `load` deletes a directory without one as an interrupted build.
    const prefix = join(state.dir, id);
    state.abort = new AbortController();
    state.warming = true;
    try {
      mkdirSync(state.dir, { recursive: true });
      const built = await state.builder.build({
        prefix,
        dependencies: packages,
        signal: state.abort.signal,
      });
      const createdAt = now();
      const python = relative(prefix, built.python);
      writeFileSync(
        join(prefix, MARKER),
        `${JSON.stringify({ poolHash: hash, createdAt, python })}\n`,
      );
      state.ready.push({
        id,
        manager,
        prefix,
        python: join(prefix, python),
        poolHash: hash,
        createdAt,
      });
      state.backoff.succeed();
      emit({ type: 'warmed', manager, id });
    } catch (error) {
      rmSync(prefix, { recursive: true, force: true });
      if (!running) return;
      const retryInMs = state.backoff.fail();
      emit({ type: 'build_failed', manager, error, retryInMs });
    } finally {
      state.warming = false;
      state.abort = undefined;
    }
  }

  async function loop(manager: EnvManager, state: ManagerState): Promise<void> {
    while (running) {
      const matching = maintain(manager, state);
      if (matching < size && state.backoff.ready()) {
        await warmOne(manager, state);
        continue;
      }
      notifySettled();
      const waitMs = state.backoff.failing
        ? state.backoff.remainingMs()
        : Math.min(maxAgeMs / 4, 3_600_000);
      await state.wake.wait(Math.max(waitMs, 1));
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      for (const [manager, state] of states) {
        load(manager, state);
        state.loop = loop(manager, state);
      }
    },
    claim(claimOptions = {}) {
      const order = claimOptions.manager ? [claimOptions.manager] : [...states.keys()];
      for (const manager of order) {
        const state = states.get(manager);
        if (!state) continue;
        const hash = hashFor(manager);
        // Never serve a stale env: a settings change must take effect for the next claim.
        const env = state.ready.find((e) => e.poolHash === hash && now() - e.createdAt <= maxAgeMs);
        if (!env) continue;
        const into = claimOptions.into ?? join(options.poolDir, 'claimed', env.id);
        mkdirSync(dirname(into), { recursive: true });
        // Rename first: if the destination is taken the env stays pooled and the error surfaces.
        renameSync(env.prefix, into);
        rmSync(join(into, MARKER), { force: true });
        state.ready = state.ready.filter((e) => e !== env);
        state.wake.wake();
        emit({ type: 'claimed', manager, id: env.id });
        return { ...env, prefix: into, python: join(into, relative(env.prefix, env.python)) };
      }
      return undefined;
    },
    setPackages(next) {
      packages = [...next];
      for (const state of states.values()) {
        state.backoff.succeed();
        state.wake.wake();
      }
    },
    status() {
      const out: Record<
        string,
        { poolHash: string; ready: number; stale: number; warming: boolean }
      > = {};
      for (const [manager, state] of states) {
        const hash = hashFor(manager);
        const ready = state.ready.filter((e) => e.poolHash === hash).length;
        out[manager] = {
          poolHash: hash,
          ready,
          stale: state.ready.length - ready,
          warming: state.warming,
        };
      }
      return out;
    },
    whenSettled() {
      if (isSettled()) return Promise.resolve();
      return new Promise((resolve) => settledWaiters.add(resolve));
    },
    async stop() {
      running = false;
      for (const state of states.values()) {
        state.abort?.abort();
        state.wake.wake();
      }
      await Promise.all([...states.values()].map((state) => state.loop));
      for (const resolve of settledWaiters) resolve();
      settledWaiters.clear();
    },
  };
}
