// TODO(runtime parts): replace with the real provider (RuntimeRegistry + createRuntime) as soon
// as @runyard/embedded-runtime and the registry implementation are on main. Until then this
// stand-in only lets the runtime-independent tests (auth, validation, limits, trust, skills,
// OpenAPI) start a server; no test of notebook behaviour runs against it.
import {
  type RuntimeEntry,
  RuntimeError,
  type RuntimeHost,
  type RuntimeRegistryApi,
} from '@runyard/runtime-registry';
import type { RuntimeProvider } from '../runtimes.js';

function unavailable(): never {
  throw new RuntimeError('notebook_not_found', 'no such notebook');
}

function placeholderHost(id: string): RuntimeHost {
  const health = () => ({ status: 'ok' as const, checkedAt: new Date().toISOString() });
  return {
    id,
    kind: 'embedded',
    describe: async () => ({ id, version: '0', capabilities: [], health: health() }),
    storeBundle: async () => unavailable(),
    listBundles: async () => [],
    checkBundle: async () => {
      throw new RuntimeError('config_bundle_missing', 'bundle not stored');
    },
    createWorker: async () => unavailable(),
    getWorker: async () => {
      throw new RuntimeError('worker_not_found', 'no such worker');
    },
    listWorkers: async () => [],
    stopWorker: async () => {
      throw new RuntimeError('worker_not_found', 'no such worker');
    },
    createNotebook: async () => unavailable(),
    openNotebook: async () => unavailable(),
    getNotebook: async () => unavailable(),
    listNotebooks: async () => [],
    execute: async () => unavailable(),
    interrupt: async () => unavailable(),
    restart: async () => unavailable(),
    shutdown: async () => unavailable(),
    manageDependencies: async () => unavailable(),
    pool: async () => ({
      envPool: { size: 0, ready: 0, warming: 0, failures: 0 },
      kernelPool: { size: 0, ready: 0, warming: 0, failures: 0 },
    }),
    subscribe: () => () => undefined,
    close: async () => undefined,
  };
}

function placeholderRegistry(): RuntimeRegistryApi {
  const hosts = new Map<string, { host: RuntimeHost; default: boolean }>();
  const entry = (id: string): RuntimeEntry => {
    const slot = hosts.get(id);
    if (!slot) throw new RuntimeError('runtime_not_found', 'no such runtime');
    return {
      id,
      kind: slot.host.kind,
      default: slot.default,
      health: { status: 'ok', checkedAt: new Date().toISOString() },
      bundles: [],
    };
  };
  return {
    register(host, options) {
      if (hosts.has(host.id)) throw new RuntimeError('runtime_exists', 'runtime exists');
      hosts.set(host.id, { host, default: options?.default === true });
      return entry(host.id);
    },
    async unregister(id) {
      entry(id);
      await hosts.get(id)?.host.close();
      hosts.delete(id);
    },
    list: () => [...hosts.keys()].map(entry),
    entry,
    get(id) {
      entry(id);
      return (hosts.get(id) as { host: RuntimeHost }).host;
    },
    defaultRuntime() {
      for (const slot of hosts.values()) if (slot.default) return slot.host;
      throw new RuntimeError('runtime_not_found', 'no default runtime');
    },
    probe: async (id) => entry(id).health,
    syncBundle: async () => unavailable(),
    checkBundle: async (id) => {
      entry(id);
      throw new RuntimeError('config_bundle_missing', 'bundle not stored');
    },
    createWorker: async () => unavailable(),
    async close() {
      for (const slot of hosts.values()) await slot.host.close();
      hosts.clear();
    },
  };
}

export function testRuntimeProvider(): RuntimeProvider {
  return {
    createRegistry: () => placeholderRegistry(),
    createLocalRuntime: async () => placeholderHost('local'),
    createRemoteRuntime: (options) => placeholderHost(options.id),
  };
}
