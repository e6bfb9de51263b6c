// TODO(runtime parts): replace the local stand-in with createRuntime as soon as
// @runyard/embedded-runtime is on main. Until then it only lets the runtime-independent tests
// (auth, validation, limits, trust, skills, OpenAPI, remote registration) start a server; no test
// of notebook behaviour runs against it. The registry and remote hosts are the real ones.
import { RuntimeError, type RuntimeHost, RuntimeRegistry } from '@runyard/runtime-registry';
import { createRemoteRuntime, type RuntimeProvider } from '../runtimes.js';

function unavailable(): never {
  throw new RuntimeError('notebook_not_found', 'no such notebook');
}

export function placeholderHost(id: string): RuntimeHost {
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

export function testRuntimeProvider(): RuntimeProvider {
  return {
    createRegistry: () => new RuntimeRegistry(),
    createLocalRuntime: async () => placeholderHost('local'),
    createRemoteRuntime,
  };
}
