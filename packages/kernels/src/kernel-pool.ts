import { Backoff, type BackoffOptions, Wakeup } from './backoff.js';
import type { KernelClient } from './client.js';
import { KernelError } from './errors.js';

/**
 * Runs IPython's lazy first-execute setup (compiler, display formatters: ~10-30 ms on a 2-core
 * machine) without output, history entry or execution count, so a claimed kernel answers its
 * first cell as fast as its second.
 */
export const IPYTHON_WARMUP_CODE = 'get_ipython().display_formatter.format(0)';

/**
 * The pool's default warm-up: a silent execute of `IPYTHON_WARMUP_CODE` on IPython kernels,
 * nothing on others. An error reply leaves the kernel usable (just not pre-warmed); a dead or
 * unresponsive kernel rejects, and the pool discards it like a failed launch.
 */
export async function warmIpythonKernel(client: KernelClient, signal?: AbortSignal): Promise<void> {
  if (client.cachedKernelInfo?.implementation !== 'ipython') return;
  await client.execute(IPYTHON_WARMUP_CODE, {
    silent: true,
    storeHistory: false,
    timeoutMs: 10_000,
    ...(signal ? { signal } : {}),
  });
}

export type KernelPoolEvent =
  | { type: 'warmed'; pid: number | undefined }
  | { type: 'launch_failed'; error: unknown; retryInMs: number }
  | { type: 'discarded'; pid: number | undefined; reason: 'dead' | 'max_age' | 'unverified' }
  | { type: 'claimed'; pid: number | undefined; source: 'pool' | 'cold' };

export interface KernelPoolOptions {
  /** Starts one ready kernel (e.g. `launchKernel` on a pooled env). Used for the pool and cold claims. */
  launch: (signal: AbortSignal) => Promise<KernelClient>;
  /** Running kernels kept warm; default 1. */
  size?: number;
  /** Pooled kernels older than this are shut down and replaced; default 30 min. */
  maxAgeMs?: number;
  /**
   * Runs on each new kernel before it joins the pool (never on cold claims, which the caller
   * waits for); a rejection discards the kernel like a failed launch. Default
   * `warmIpythonKernel`; `false` turns warm-up off.
   */
  warmup?: ((client: KernelClient, signal: AbortSignal) => Promise<void>) | false;
  /** A claim re-checks the pooled kernel with kernel_info for at most this long; default 2 s. */
  verifyTimeoutMs?: number;
  /**
   * After a claim, the replacement starts this much later; default 250 ms. Starting a Python
   * kernel takes about a second of CPU: launched at once it competed with the claimed kernel's
   * first cells (and its spawn held the event loop), which made a warm claim + `1+1` take twice
   * as long on two cores. The delay never blocks a claim: an empty pool launches cold.
   */
  replenishDelayMs?: number;
  backoff?: BackoffOptions;
  now?: () => number;
  onEvent?: (event: KernelPoolEvent) => void;
}

export interface KernelPool {
  start(): void;
  /**
   * A ready kernel: a pooled one at once when available (verified alive), else a cold launch.
   * The claimed kernel belongs to the caller and never returns to the pool. Before `start()` it
   * is a cold launch; after `stop()` it rejects with `kernel_pool_stopped`.
   */
  claim(options?: { signal?: AbortSignal }): Promise<KernelClient>;
  /** Number of warm kernels waiting. */
  readonly ready: number;
  /**
   * Resolves when `size` kernels are warm (or replenishment is backing off). Rejects at once with
   * `kernel_pool_not_started` before `start()` and `kernel_pool_stopped` after `stop()` (nothing
   * would ever warm); a wait pending when `stop()` is called resolves.
   */
  whenWarm(): Promise<void>;
  /** Shuts down every pooled kernel and stops replenishing. Claimed kernels are not touched. */
  stop(): Promise<void>;
}

interface Pooled {
  client: KernelClient;
  startedAt: number;
  offDead: () => void;
}

export function createKernelPool(options: KernelPoolOptions): KernelPool {
  const size = options.size ?? 1;
  const maxAgeMs = options.maxAgeMs ?? 30 * 60_000;
  const verifyTimeoutMs = options.verifyTimeoutMs ?? 2000;
  const replenishDelayMs = options.replenishDelayMs ?? 250;
  const now = options.now ?? Date.now;
  const warmup = options.warmup === undefined ? warmIpythonKernel : options.warmup;
  const backoff = new Backoff(options.backoff);
  const wake = new Wakeup();
  let pooled: Pooled[] = [];
  let running = false;
  let started = false;
  let stopped = false;
  let launching: AbortController | undefined;
  let loopDone: Promise<void> | undefined;
  const warmWaiters = new Set<() => void>();

  const emit = (event: KernelPoolEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // observers must not break the pool
    }
  };

  function release(entry: Pooled, reason: 'dead' | 'max_age' | 'unverified'): void {
    pooled = pooled.filter((p) => p !== entry);
    entry.offDead();
    emit({ type: 'discarded', pid: entry.client.pid, reason });
    void entry.client.shutdown({ graceMs: 500 }).catch(() => undefined);
    wake.wake();
  }

  let replenishTimer: ReturnType<typeof setTimeout> | undefined;
  function replenishSoon(): void {
    if (replenishDelayMs <= 0) {
      wake.wake();
      return;
    }
    if (replenishTimer) return;
    replenishTimer = setTimeout(() => {
      replenishTimer = undefined;
      wake.wake();
    }, replenishDelayMs);
  }

  function notifyWarm(): void {
    if (pooled.length < size && !backoff.failing) return;
    for (const resolve of warmWaiters) resolve();
    warmWaiters.clear();
  }

  async function loop(): Promise<void> {
    while (running) {
      for (const entry of [...pooled]) {
        if (now() - entry.startedAt > maxAgeMs) release(entry, 'max_age');
      }
      if (pooled.length < size && backoff.ready()) {
        launching = new AbortController();
        try {
          const signal = launching.signal;
          const client = await options.launch(signal);
          if (warmup) {
            try {
              await warmup(client, signal);
            } catch (error) {
              await client.shutdown({ graceMs: 500 }).catch(() => undefined);
              throw error;
            }
          }
          if (!running) {
            await client.shutdown({ graceMs: 500 });
            break;
          }
          const entry: Pooled = { client, startedAt: now(), offDead: () => undefined };
          entry.offDead = client.on('status', (status) => {
            if (status === 'dead') release(entry, 'dead');
          });
          pooled.push(entry);
          backoff.succeed();
          emit({ type: 'warmed', pid: client.pid });
        } catch (error) {
          if (!running) break;
          emit({ type: 'launch_failed', error, retryInMs: backoff.fail() });
        } finally {
          launching = undefined;
        }
        continue;
      }
      notifyWarm();
      const oldest = pooled.reduce(
        (min, p) => Math.min(min, p.startedAt),
        Number.POSITIVE_INFINITY,
      );
      const untilAge = Number.isFinite(oldest) ? oldest + maxAgeMs - now() + 1 : maxAgeMs;
      const waitMs = backoff.failing && pooled.length < size ? backoff.remainingMs() : untilAge;
      await wake.wait(Math.max(1, Math.min(waitMs, 3_600_000)));
    }
  }

  async function verified(entry: Pooled): Promise<boolean> {
    if (!entry.client.alive) return false;
    try {
      // Catches a kernel that died an instant ago, before its exit event was processed.
      await entry.client.kernelInfo(verifyTimeoutMs);
      return entry.client.alive;
    } catch {
      return false;
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      started = true;
      // Starting again after stop() resumes the pool.
      stopped = false;
      loopDone = loop();
    },
    get ready() {
      return pooled.length;
    },
    async claim(claimOptions = {}) {
      if (stopped) throw new KernelError('kernel_pool_stopped', 'The kernel pool was stopped');
      while (pooled.length > 0) {
        const entry = pooled.shift() as Pooled;
        entry.offDead();
        if (await verified(entry)) {
          replenishSoon();
          emit({ type: 'claimed', pid: entry.client.pid, source: 'pool' });
          return entry.client;
        }
        wake.wake();
        emit({ type: 'discarded', pid: entry.client.pid, reason: 'unverified' });
        void entry.client.shutdown({ graceMs: 500 }).catch(() => undefined);
      }
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      claimOptions.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const client = await options.launch(controller.signal);
        emit({ type: 'claimed', pid: client.pid, source: 'cold' });
        return client;
      } finally {
        claimOptions.signal?.removeEventListener('abort', onAbort);
      }
    },
    whenWarm() {
      if (stopped)
        return Promise.reject(
          new KernelError('kernel_pool_stopped', 'The kernel pool was stopped'),
        );
      if (!started)
        return Promise.reject(
          new KernelError('kernel_pool_not_started', 'The kernel pool was not started'),
        );
      if (pooled.length >= size) return Promise.resolve();
      return new Promise((resolve) => warmWaiters.add(resolve));
    },
    async stop() {
      running = false;
      stopped = true;
      clearTimeout(replenishTimer);
      replenishTimer = undefined;
      launching?.abort();
      wake.wake();
      await loopDone;
      const entries = pooled;
      pooled = [];
      await Promise.all(
        entries.map(async (entry) => {
          entry.offDead();
          await entry.client.shutdown({ graceMs: 500 }).catch(() => undefined);
        }),
      );
      for (const resolve of warmWaiters) resolve();
      warmWaiters.clear();
    },
  };
}
