import { ConfigBundleErrorCode } from '@runyard/config-bundles';
import type {
  BundleAvailability,
  BundleSyncResult,
  RuntimeEntry,
  RuntimeHealth,
  RuntimeHost,
  RuntimeRegistryApi,
  WorkerInfo,
} from './contract.js';
import { RuntimeError, RuntimeErrorCode } from './errors.js';
import { isKnownErrorCode } from './remote-errors.js';

export interface RegistryTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface RuntimeRegistryOptions {
  clock?: () => Date;
  /** How often `start()` probes every runtime (default 30 s). */
  probeIntervalMs?: number;
  /** A probe that takes longer counts as `unreachable` (default 10 s). */
  probeTimeoutMs?: number;
  /** Injected so tests drive probes without waiting. Default: the global timers, unref'd. */
  timers?: RegistryTimers;
  /** Bundle records kept per runtime; the oldest go first (default 256). */
  maxBundleRecords?: number;
  /** Called whenever a probe records a health result. */
  onHealth?: (runtimeId: string, health: RuntimeHealth) => void;
}

type BundleRecord = RuntimeEntry['bundles'][number];

interface Slot {
  host: RuntimeHost;
  health: RuntimeHealth;
  /** Keyed by `id\0digest`; Map order is insertion order, refreshed on every update. */
  bundles: Map<string, BundleRecord>;
  probing: Promise<RuntimeHealth> | undefined;
}

const defaultTimers: RegistryTimers = {
  setInterval(callback, ms) {
    const handle = setInterval(callback, ms);
    handle.unref();
    return handle;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

/** Codes with which a runtime refuses a bundle it was asked to store. */
const REJECTION_CODES: ReadonlySet<string> = new Set([
  ...Object.values(ConfigBundleErrorCode),
  'invalid_request',
  'body_too_large',
]);

/** Codes with which a runtime says it does not hold a bundle (so a sync can fix it). */
const MISSING_CODES: ReadonlySet<string> = new Set([
  ConfigBundleErrorCode.missing,
  ConfigBundleErrorCode.digestMismatch,
]);

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : 'the runtime refused the bundle';
}

function shortString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 256 ? value : undefined;
}

/** The id and digest a bundle claims, read defensively from an unvalidated value. */
function bundleIdentity(bundle: unknown): { id: string; digest: string } {
  const metadata =
    bundle !== null && typeof bundle === 'object'
      ? (bundle as { metadata?: unknown }).metadata
      : undefined;
  if (metadata === null || typeof metadata !== 'object') return { id: '', digest: '' };
  const { id, digest } = metadata as { id?: unknown; digest?: unknown };
  return { id: shortString(id) ?? '', digest: shortString(digest) ?? '' };
}

function requestBundleRef(request: unknown): { id: string; digest: string } | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  const ref = (request as { configBundle?: unknown }).configBundle;
  if (ref === null || typeof ref !== 'object') return undefined;
  const { id, digest } = ref as { id?: unknown; digest?: unknown };
  return typeof id === 'string' && typeof digest === 'string' ? { id, digest } : undefined;
}

/**
 * The workspace server's view of its runtimes. Keeps per runtime its last health and which
 * bundle digests it accepted or refused, so a worker is only created where its bundle is held.
 */
export class RuntimeRegistry implements RuntimeRegistryApi {
  readonly #slots = new Map<string, Slot>();
  readonly #clock: () => Date;
  readonly #probeIntervalMs: number;
  readonly #probeTimeoutMs: number;
  readonly #timers: RegistryTimers;
  readonly #maxBundleRecords: number;
  readonly #onHealth: ((runtimeId: string, health: RuntimeHealth) => void) | undefined;
  #defaultId: string | undefined;
  #interval: unknown;

  constructor(options: RuntimeRegistryOptions = {}) {
    this.#clock = options.clock ?? (() => new Date());
    this.#probeIntervalMs = options.probeIntervalMs ?? 30_000;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? 10_000;
    this.#timers = options.timers ?? defaultTimers;
    this.#maxBundleRecords = options.maxBundleRecords ?? 256;
    this.#onHealth = options.onHealth;
  }

  #now(): string {
    return this.#clock().toISOString();
  }

  #slot(runtimeId: string): Slot {
    const slot = this.#slots.get(runtimeId);
    if (!slot) throw new RuntimeError('runtime_not_found', 'no runtime with that id is registered');
    return slot;
  }

  #entry(id: string, slot: Slot): RuntimeEntry {
    return {
      id,
      kind: slot.host.kind,
      default: id === this.#defaultId,
      health: { ...slot.health },
      bundles: [...slot.bundles.values()].map((record) => ({
        ...record,
        diagnostics: record.diagnostics.map((diagnostic) => ({ ...diagnostic })),
      })),
    };
  }

  /** The first runtime registered becomes the default, as does one registered with `default`. */
  register(host: RuntimeHost, options: { default?: boolean } = {}): RuntimeEntry {
    if (this.#slots.has(host.id)) {
      throw new RuntimeError('runtime_exists', 'a runtime with that id is already registered');
    }
    const slot: Slot = {
      host,
      health: { status: 'degraded', checkedAt: this.#now(), details: 'not probed yet' },
      bundles: new Map(),
      probing: undefined,
    };
    this.#slots.set(host.id, slot);
    if (options.default || this.#defaultId === undefined) this.#defaultId = host.id;
    return this.#entry(host.id, slot);
  }

  setDefault(runtimeId: string): RuntimeEntry {
    const slot = this.#slot(runtimeId);
    this.#defaultId = runtimeId;
    return this.#entry(runtimeId, slot);
  }

  async unregister(runtimeId: string): Promise<void> {
    const slot = this.#slot(runtimeId);
    if (runtimeId === this.#defaultId) {
      throw new RuntimeError(
        'default_runtime_not_removable',
        'the default runtime cannot be removed; make another runtime the default first',
      );
    }
    this.#slots.delete(runtimeId);
    await slot.host.close();
  }

  list(): RuntimeEntry[] {
    return [...this.#slots].map(([id, slot]) => this.#entry(id, slot));
  }

  entry(runtimeId: string): RuntimeEntry {
    return this.#entry(runtimeId, this.#slot(runtimeId));
  }

  get(runtimeId: string): RuntimeHost {
    return this.#slot(runtimeId).host;
  }

  defaultRuntime(): RuntimeHost {
    if (this.#defaultId === undefined) {
      throw new RuntimeError('runtime_not_found', 'no runtime is registered');
    }
    return this.get(this.#defaultId);
  }

  probe(runtimeId: string): Promise<RuntimeHealth> {
    const slot = this.#slot(runtimeId);
    // Overlapping probes (timer + caller) share one request.
    slot.probing ??= this.#runProbe(slot).finally(() => {
      slot.probing = undefined;
    });
    return slot.probing;
  }

  async #runProbe(slot: Slot): Promise<RuntimeHealth> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RuntimeError('remote_runtime_unreachable', 'probe timed out')),
        this.#probeTimeoutMs,
      );
      timer.unref();
    });
    let health: RuntimeHealth;
    try {
      const descriptor = await Promise.race([slot.host.describe(), timeout]);
      health = {
        status: descriptor.health.status,
        checkedAt: this.#now(),
        ...(descriptor.health.details === undefined
          ? {}
          : { details: descriptor.health.details.slice(0, 512) }),
      };
    } catch (error) {
      // Only a known code is recorded: an embedded runtime's raw error text stays out of it.
      const code = errorCode(error);
      health = {
        status: 'unreachable',
        checkedAt: this.#now(),
        details: isKnownErrorCode(code) ? code : 'probe_failed',
      };
    } finally {
      clearTimeout(timer);
    }
    if (this.#slots.get(slot.host.id) === slot) {
      slot.health = health;
      this.#onHealth?.(slot.host.id, health);
    }
    return health;
  }

  async probeAll(): Promise<void> {
    await Promise.all([...this.#slots.keys()].map((id) => this.probe(id).catch(() => undefined)));
  }

  /** Probes every runtime now and then every `probeIntervalMs` until `stop()`. */
  start(): void {
    if (this.#interval !== undefined) return;
    void this.probeAll();
    this.#interval = this.#timers.setInterval(() => void this.probeAll(), this.#probeIntervalMs);
  }

  stop(): void {
    if (this.#interval === undefined) return;
    this.#timers.clearInterval(this.#interval);
    this.#interval = undefined;
  }

  #record(slot: Slot, record: BundleRecord): void {
    const key = `${record.id}\u0000${record.digest}`;
    slot.bundles.delete(key);
    slot.bundles.set(key, record);
    while (slot.bundles.size > this.#maxBundleRecords) {
      const oldest = slot.bundles.keys().next().value;
      if (oldest === undefined) break;
      slot.bundles.delete(oldest);
    }
  }

  /**
   * Stores `bundle` on the runtime. A typed refusal (invalid, forbidden content, digest
   * mismatch, immutable revision, ...) is a result, not an error: it is recorded with its
   * diagnostics. Transport and auth failures still throw.
   */
  async syncBundle(runtimeId: string, bundle: unknown): Promise<BundleSyncResult> {
    const slot = this.#slot(runtimeId);
    let availability: BundleAvailability;
    try {
      availability = await slot.host.storeBundle(bundle);
    } catch (error) {
      const code = errorCode(error);
      if (code === undefined || !REJECTION_CODES.has(code)) throw error;
      const diagnostics = [{ code, message: errorMessage(error) }];
      this.#record(slot, {
        ...bundleIdentity(bundle),
        state: 'rejected',
        at: this.#now(),
        diagnostics,
      });
      return { state: 'rejected', diagnostics };
    }
    const { id, digest } = availability.summary;
    this.#record(slot, { id, digest, state: 'accepted', at: this.#now(), diagnostics: [] });
    return { state: 'accepted', availability, diagnostics: [] };
  }

  async checkBundle(
    runtimeId: string,
    ref: { id: string; digest: string },
  ): Promise<BundleAvailability> {
    const slot = this.#slot(runtimeId);
    const availability = await slot.host.checkBundle(ref);
    const { id, digest } = availability.summary;
    const known = slot.bundles.get(`${id}\u0000${digest}`);
    if (known?.state !== 'accepted') {
      this.#record(slot, { id, digest, state: 'accepted', at: this.#now(), diagnostics: [] });
    }
    return availability;
  }

  /**
   * Creates a worker, first syncing `bundle` when the request references a bundle the runtime
   * does not hold. `bundle` must be the one the request references.
   */
  async createWorker(runtimeId: string, request: unknown, bundle?: unknown): Promise<WorkerInfo> {
    const slot = this.#slot(runtimeId);
    const ref = requestBundleRef(request);
    if (ref !== undefined) {
      if (bundle !== undefined) {
        const given = bundleIdentity(bundle);
        if (given.id !== ref.id || given.digest !== ref.digest) {
          throw new RuntimeError(
            'invalid_request',
            "the bundle given is not the one the worker request's configBundle references",
          );
        }
      }
      let held = true;
      try {
        await this.checkBundle(runtimeId, ref);
      } catch (error) {
        const code = errorCode(error);
        if (bundle === undefined || code === undefined || !MISSING_CODES.has(code)) throw error;
        held = false;
      }
      if (!held) {
        const result = await this.syncBundle(runtimeId, bundle);
        if (result.state === 'rejected') {
          const codes = result.diagnostics.map((diagnostic) => diagnostic.code).join(', ');
          throw new RuntimeError(
            RuntimeErrorCode.bundleSyncRejected,
            `the runtime refused the config bundle (${codes}); see the runtime entry for diagnostics`,
          );
        }
      }
    }
    return slot.host.createWorker(request);
  }

  /** Stops probing and closes every host. */
  async close(): Promise<void> {
    this.stop();
    const hosts = [...this.#slots.values()].map((slot) => slot.host);
    this.#slots.clear();
    this.#defaultId = undefined;
    await Promise.allSettled(hosts.map((host) => host.close()));
  }
}
