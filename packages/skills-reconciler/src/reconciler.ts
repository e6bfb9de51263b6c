import { homedir } from 'node:os';
import { join } from 'node:path';
import { INFLATED_BYTES_FACTOR } from './archive.js';
import { SkillsError, toSkillsError } from './errors.js';
import type { FetchLike } from './http.js';
import type { Checkpoint } from './install.js';
import { createFileInventory, type InventoryRecord, type InventoryStore } from './inventory.js';
import type { ManifestCache, PassError } from './manifest-loader.js';
import {
  DEFAULT_LIMITS,
  type OnDrift,
  type PassContext,
  type PassReport,
  runPass,
  type SkillLimits,
  type SkillsRoots,
} from './pass.js';
import { resolvePolicy, type SkillsPolicy } from './policy.js';

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Clock {
  now(): number;
}

export interface Logger {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export interface ReconcilerOptions {
  /** Manifest sources, merged in order: http(s) URLs, `file://` URLs or local paths. */
  manifests: readonly string[];
  /** Home directory (default `os.homedir()`); the user root defaults to `<home>/.claude/skills`. */
  homeDir?: string;
  userSkillsRoot?: string;
  /** The workspace; project-scope skills go to `<workspaceDir>/.claude/skills`. */
  workspaceDir?: string;
  /** Ownership store (default: a JSON file in each skills root; see `./sqlite` for SQLite). */
  inventory?: InventoryStore;
  fetch?: FetchLike;
  /** The managed token (sent as `Authorization: Bearer`), only to `tokenHosts`. */
  token?: string;
  /**
   * `host[:port]` list allowed to receive the token, for every manifest. Default: per manifest,
   * its own host only (the manifest and the archives it names on that host).
   */
  tokenHosts?: readonly string[];
  /** Configured policy (default `user-choice`); `RUNYARD_SKILLS_POLICY` overrides it. */
  policy?: string;
  /** The user's own choice under `user-choice` (default true). Read at every cycle. */
  userEnabled?: boolean | (() => boolean);
  /** Environment, read at the top of every cycle (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Interval between passes (default 24 h), jittered ±10%. */
  intervalMs?: number;
  /** First retry delay after a failed pass (default 1 min), doubling up to the interval. */
  initialBackoffMs?: number;
  limits?: Partial<SkillLimits>;
  /** What to do with a managed skill edited locally (default `keep`). */
  onDrift?: OnDrift;
  clock?: Clock;
  timers?: Timers;
  /** Uniform [0, 1) source for jitter (default `Math.random`). */
  random?: () => number;
  logger?: Logger;
  gitPath?: string;
  /**
   * Allow git sources over ssh (`ssh://`, `user@host:path`), which use the user's SSH keys
   * (default false: a manifest cannot make the reconciler authenticate as the user).
   */
  allowSshGit?: boolean;
  /** Fault injection for crash tests; awaited at each step of a swap. */
  checkpoint?: Checkpoint;
}

export type PassTrigger = 'start' | 'scheduled' | 'manual';

export interface LastPass {
  trigger: PassTrigger;
  startedAt: string;
  finishedAt: string;
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  errors: PassError[];
  aborted: boolean;
}

export type ReconcilerEvent =
  | { type: 'pass_started'; trigger: PassTrigger; at: string }
  | {
      type: 'pass_waiting';
      trigger: PassTrigger;
      /** `pass_running`: a pass of this reconciler; `root_locked`: another pass holds a skills root. */
      reason: 'pass_running' | 'root_locked';
      at: string;
    }
  | { type: 'pass_finished'; trigger: PassTrigger; at: string; pass: LastPass; report: PassReport }
  | {
      type: 'pass_skipped';
      reason: 'policy_invalid' | 'user_disabled';
      at: string;
      message: string;
    }
  | { type: 'stopped'; reason: 'manual' | 'policy'; wasRunning: boolean; at: string };

export interface ReconcilerStatus {
  /** The effective policy, or null while the configured/env value is invalid. */
  policy: SkillsPolicy | null;
  policyError?: { code: string; message: string };
  /**
   * The last failure of the loop itself (a user-supplied callback such as `userEnabled` or the
   * timers threw); cleared by the next cycle that completes. The loop keeps going (back-off).
   */
  loopError?: { code: string; message: string; at: string };
  running: boolean;
  stopped: boolean;
  lastPass: LastPass | null;
  nextPassAt: string | null;
  inventory: InventoryRecord[];
}

export interface StopResult {
  stopped: true;
  wasRunning: boolean;
}

export interface Reconciler {
  /** Starts the loop: the first pass runs now. Throws `reconciler_stopped` after a stop. */
  start(): Promise<void>;
  /** Kill switch: latched, idempotent; aborts an in-flight pass at its next safe point. */
  stop(): Promise<StopResult>;
  isRunning(): boolean;
  /** What a pass would do; touches no disk. */
  plan(): Promise<PassReport>;
  /** Runs one pass now (waits for a running pass first: passes never overlap). */
  reconcile(): Promise<PassReport>;
  status(): ReconcilerStatus;
  on(listener: (event: ReconcilerEvent) => void): () => void;
}

const DAY = 24 * 60 * 60 * 1000;

const defaultTimers: Timers = {
  setTimeout(callback, ms) {
    // Node fires at once for delays past 2^31-1 ms; a long interval must not become a busy loop.
    const handle = setTimeout(callback, Math.min(ms, 2_147_483_647));
    // The loop must not keep a CLI process alive on its own.
    handle.unref?.();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

const defaultLogger: Logger = {
  info: () => undefined,
  warn: (message) => console.warn(`[skills-reconciler] ${message}`),
  error: (message) => console.error(`[skills-reconciler] ${message}`),
};

/** The inflated-bytes cap follows a configured skill cap unless it is set itself. */
function resolveLimits(limits: Partial<SkillLimits> = {}): SkillLimits {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  if (limits.maxInflatedBytes === undefined)
    merged.maxInflatedBytes = INFLATED_BYTES_FACTOR * merged.maxSkillBytes;
  return merged;
}

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const clock = options.clock ?? { now: () => Date.now() };
  const timers = options.timers ?? defaultTimers;
  const random = options.random ?? Math.random;
  const userLogger = options.logger ?? defaultLogger;
  // A logger that throws must not take the loop (or an unhandled rejection) with it.
  const logger: Logger = {
    info: (message, data) => {
      try {
        userLogger.info(message, data);
      } catch {}
    },
    warn: (message, data) => {
      try {
        userLogger.warn(message, data);
      } catch {}
    },
    error: (message, data) => {
      try {
        userLogger.error(message, data);
      } catch {}
    },
  };
  const env = options.env ?? process.env;
  const intervalMs = options.intervalMs ?? DAY;
  const initialBackoffMs = Math.min(options.initialBackoffMs ?? 60_000, intervalMs);
  const home = options.homeDir ?? homedir();
  const roots: SkillsRoots = {
    user: options.userSkillsRoot ?? join(home, '.claude', 'skills'),
    project: options.workspaceDir ? join(options.workspaceDir, '.claude', 'skills') : undefined,
  };
  const inventory = options.inventory ?? createFileInventory();
  const manifestCache: ManifestCache = new Map();
  const ctx: PassContext = {
    manifests: [...options.manifests],
    roots,
    inventory,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    token: options.token,
    tokenHosts: options.tokenHosts,
    manifestCache,
    limits: resolveLimits(options.limits),
    onDrift: options.onDrift ?? 'keep',
    now: () => clock.now(),
    gitPath: options.gitPath,
    homeDir: home,
    allowSshGit: options.allowSshGit ?? false,
    checkpoint: options.checkpoint,
  };

  const listeners = new Set<(event: ReconcilerEvent) => void>();
  const stopController = new AbortController();
  let started = false;
  let stopped = false;
  let timer: unknown;
  let nextPassAt: number | null = null;
  let failures = 0;
  let lastPass: LastPass | null = null;
  let loopError: ReconcilerStatus['loopError'];
  let lockTail: Promise<unknown> = Promise.resolve();

  const iso = (ms: number) => new Date(ms).toISOString();

  function emit(event: ReconcilerEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.error(`an event listener threw: ${(error as Error).message}`);
      }
    }
  }

  /** Passes queued or running; a new one that finds another says so (`pass_waiting`). */
  let passes = 0;

  function withLock<T>(trigger: PassTrigger, fn: () => Promise<T>): Promise<T> {
    if (passes > 0)
      emit({ type: 'pass_waiting', trigger, reason: 'pass_running', at: iso(clock.now()) });
    passes++;
    const done = () => {
      passes--;
    };
    const run = lockTail.then(fn, fn);
    run.then(done, done);
    lockTail = run.catch(() => undefined);
    return run;
  }

  function jitter(ms: number): number {
    return Math.max(0, Math.round(ms * (1 + (random() * 2 - 1) * 0.1)));
  }

  function schedule(delayMs: number): void {
    if (stopped || !started) return;
    if (timer !== undefined) timers.clearTimeout(timer);
    nextPassAt = clock.now() + delayMs;
    timer = timers.setTimeout(() => {
      timer = undefined;
      void cycle('scheduled');
    }, delayMs);
  }

  function backoffDelay(): number {
    const base = Math.min(intervalMs, initialBackoffMs * 2 ** Math.min(failures - 1, 40));
    return jitter(base);
  }

  function userEnabled(): boolean {
    const choice = options.userEnabled ?? true;
    return typeof choice === 'function' ? choice() : choice;
  }

  type Gate =
    | { kind: 'run' }
    | { kind: 'invalid'; error: SkillsError }
    | { kind: 'off' }
    | { kind: 'disabled' };

  /** Re-reads the policy (env first) at the top of every cycle and every manual call. */
  function gate(): Gate {
    const resolved = resolvePolicy(env, options.policy);
    if (!resolved.ok) return { kind: 'invalid', error: resolved.error };
    if (resolved.policy === 'force-off') return { kind: 'off' };
    if (resolved.policy === 'user-choice' && !userEnabled()) return { kind: 'disabled' };
    return { kind: 'run' };
  }

  async function executePass(trigger: PassTrigger, mode: 'plan' | 'apply'): Promise<PassReport> {
    if (stopped) throw new SkillsError('reconciler_stopped', 'the skills reconciler was stopped');
    const startedAt = clock.now();
    if (mode === 'apply') emit({ type: 'pass_started', trigger, at: iso(startedAt) });
    const report = await runPass(ctx, mode, stopController.signal, {
      onLockWait: () =>
        emit({ type: 'pass_waiting', trigger, reason: 'root_locked', at: iso(clock.now()) }),
    });
    if (mode === 'plan') return report;
    const finishedAt = clock.now();
    const pass: LastPass = {
      trigger,
      startedAt: iso(startedAt),
      finishedAt: iso(finishedAt),
      added: report.install.filter((i) => i.outcome === 'applied').length,
      updated: report.update.filter((i) => i.outcome === 'applied').length,
      removed: report.remove.filter((i) => i.outcome === 'applied').length,
      unchanged: report.unchanged.length,
      errors: report.errors,
      aborted: report.aborted,
    };
    lastPass = pass;
    for (const error of report.errors) logger.warn(`${error.code}: ${error.message}`);
    emit({ type: 'pass_finished', trigger, at: iso(finishedAt), pass, report });
    return report;
  }

  /**
   * One turn of the loop. Never rejects: it runs from a timer (`void cycle(...)`), where a
   * rejection would be unhandled; a failure is kept in `status().loopError` and retried.
   */
  async function cycle(trigger: PassTrigger): Promise<void> {
    try {
      await cycleBody(trigger);
      loopError = undefined;
    } catch (error) {
      const failure = toSkillsError(error, 'reconciler_failed', 'the reconciler loop failed');
      loopError = { code: failure.code, message: failure.message, at: iso(clock.now()) };
      logger.error(`${failure.code}: ${failure.message}`);
      if (stopped) return;
      failures++;
      try {
        schedule(backoffDelay());
      } catch {
        // The timers themselves threw: nothing more can be scheduled; status says why.
      }
    }
  }

  async function cycleBody(trigger: PassTrigger): Promise<void> {
    if (stopped) return;
    nextPassAt = null;
    const verdict = gate();
    if (verdict.kind === 'off') {
      await stopWith('policy');
      return;
    }
    if (verdict.kind === 'invalid') {
      failures++;
      logger.error(
        `${verdict.error.code}: ${verdict.error.message}; no pass runs until it is fixed`,
      );
      emit({
        type: 'pass_skipped',
        reason: 'policy_invalid',
        at: iso(clock.now()),
        message: verdict.error.message,
      });
      schedule(backoffDelay());
      return;
    }
    if (verdict.kind === 'disabled') {
      emit({
        type: 'pass_skipped',
        reason: 'user_disabled',
        at: iso(clock.now()),
        message: 'managed skills are turned off by the user',
      });
      schedule(jitter(intervalMs));
      return;
    }
    let report: PassReport | undefined;
    try {
      report = await withLock(trigger, () => executePass(trigger, 'apply'));
    } catch (error) {
      if (stopped) return;
      logger.error(`the pass failed: ${(error as Error).message}`);
    }
    if (stopped) return;
    if (!report || report.errors.length > 0) {
      failures++;
      schedule(backoffDelay());
    } else {
      failures = 0;
      schedule(jitter(intervalMs));
    }
  }

  async function stopWith(reason: 'manual' | 'policy'): Promise<StopResult> {
    if (stopped) {
      await lockTail;
      return { stopped: true, wasRunning: false };
    }
    const wasRunning = started;
    stopped = true;
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    nextPassAt = null;
    stopController.abort();
    // Resolve only once any in-flight pass has unwound: nothing changes on disk after this.
    await lockTail;
    emit({ type: 'stopped', reason, wasRunning, at: iso(clock.now()) });
    logger.info(`stopped (${reason})`);
    return { stopped: true, wasRunning };
  }

  async function manual(mode: 'plan' | 'apply'): Promise<PassReport> {
    if (stopped) throw new SkillsError('reconciler_stopped', 'the skills reconciler was stopped');
    const verdict = gate();
    if (verdict.kind === 'invalid') throw verdict.error;
    if (verdict.kind === 'off') {
      await stopWith('policy');
      throw new SkillsError(
        'reconciler_stopped',
        'the skills policy is force-off; the reconciler was stopped',
      );
    }
    if (verdict.kind === 'disabled') {
      throw new SkillsError('policy_disabled', 'managed skills are turned off by the user');
    }
    return withLock('manual', () => executePass('manual', mode));
  }

  return {
    start() {
      if (stopped) {
        throw new SkillsError(
          'reconciler_stopped',
          'the skills reconciler was stopped and cannot be restarted',
        );
      }
      if (started) return Promise.resolve();
      started = true;
      return cycle('start');
    },
    stop: () => stopWith('manual'),
    isRunning: () => started && !stopped,
    plan: () => manual('plan'),
    reconcile: () => manual('apply'),
    status() {
      const resolved = resolvePolicy(env, options.policy);
      const records: InventoryRecord[] = [];
      for (const root of roots.project ? [roots.user, roots.project] : [roots.user]) {
        try {
          records.push(...inventory.list(root));
        } catch {
          // An unreadable inventory is reported by the next pass; status stays answerable.
        }
      }
      const status: ReconcilerStatus = {
        policy: resolved.ok ? resolved.policy : null,
        running: started && !stopped,
        stopped,
        lastPass,
        nextPassAt: nextPassAt === null ? null : iso(nextPassAt),
        inventory: records,
      };
      if (loopError) status.loopError = loopError;
      if (!resolved.ok)
        status.policyError = { code: resolved.error.code, message: resolved.error.message };
      return status;
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
