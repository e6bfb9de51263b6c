import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmbeddedRuntimeHost,
  type RegistryTimers,
  RemoteRuntimeHost,
  type RuntimeHealth,
  type RuntimeHost,
  RuntimeRegistry,
} from './index.js';
import { agentBundle, tamperedBundle, workerRequest } from './test-support/bundles.js';
import { serveMemoryRuntime, TOKEN, tempRuntime } from './test-support/harness.js';
import type { MemoryRuntime } from './test-support/memory-runtime.js';

async function caught(promise: Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: string };
  }
  throw new Error('expected a failure');
}

/** Timers a test fires by hand. */
function manualTimers(): RegistryTimers & { fire(): void; active(): number } {
  const callbacks = new Map<number, () => void>();
  let next = 0;
  return {
    setInterval(callback) {
      next += 1;
      callbacks.set(next, callback);
      return next;
    },
    clearInterval(handle) {
      callbacks.delete(handle as number);
    },
    fire() {
      for (const callback of callbacks.values()) callback();
    },
    active: () => callbacks.size,
  };
}

interface Fixture {
  api: MemoryRuntime;
  host: RuntimeHost;
  close(): Promise<void>;
}

const fixtures: Record<'embedded' | 'remote', () => Promise<Fixture>> = {
  async embedded() {
    const runtime = tempRuntime('embedded-runtime');
    const host = new EmbeddedRuntimeHost(runtime.api, { id: 'local' });
    return { api: runtime.api, host, close: async () => runtime.close() };
  },
  async remote() {
    const served = await serveMemoryRuntime('remote-runtime');
    const host = new RemoteRuntimeHost({ id: 'far', url: served.server.url, token: TOKEN });
    return { api: served.api, host, close: () => served.close() };
  },
};

describe.each(['embedded', 'remote'] as const)('RuntimeRegistry with an %s runtime', (kind) => {
  let fixture: Fixture;
  let registry: RuntimeRegistry;

  beforeEach(async () => {
    fixture = await fixtures[kind]();
    registry = new RuntimeRegistry({ clock: () => new Date('2025-06-01T00:00:00Z') });
    registry.register(fixture.host);
  });

  afterEach(async () => {
    await registry.close();
    await fixture.close();
  });

  const id = () => fixture.host.id;
  const methods = () => fixture.api.calls.map((call) => call.method);

  it('records an accepted bundle once however often it is synced', async () => {
    const bundle = agentBundle(1);
    const first = await registry.syncBundle(id(), bundle);
    expect(first).toMatchObject({ state: 'accepted', diagnostics: [] });
    expect(first.availability?.summary.digest).toBe(bundle.metadata.digest);
    const second = await registry.syncBundle(id(), bundle);
    expect(second.state).toBe('accepted');
    expect(registry.entry(id()).bundles).toEqual([
      {
        id: 'ws-1.agents',
        digest: bundle.metadata.digest,
        state: 'accepted',
        at: '2025-06-01T00:00:00.000Z',
        diagnostics: [],
      },
    ]);
    expect((await fixture.host.listBundles()).length).toBe(1);
  });

  it('records a refused bundle with its diagnostics instead of throwing', async () => {
    const bundle = tamperedBundle();
    const result = await registry.syncBundle(id(), bundle);
    expect(result.state).toBe('rejected');
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]?.code).toBe('config_bundle_digest_mismatch');
    expect(result.diagnostics[0]?.message).toMatch(/digest/);
    expect(registry.entry(id()).bundles).toEqual([
      expect.objectContaining({
        id: 'ws-1.agents',
        digest: bundle.metadata.digest,
        state: 'rejected',
        diagnostics: result.diagnostics,
      }),
    ]);

    const forbidden = agentBundle(2);
    (forbidden.profiles[0]?.worker as { argv: string[] }).argv = ['node', '/etc/passwd'];
    const refused = await registry.syncBundle(id(), forbidden);
    expect(refused.state).toBe('rejected');
    expect(refused.diagnostics[0]?.message).not.toContain('/etc/passwd');

    const garbage = await registry.syncBundle(id(), { metadata: { id: '../../x' } });
    expect(garbage.diagnostics[0]?.code).toBe('invalid_bundle_id');
  });

  it('refuses a second content under an id and revision already held', async () => {
    await registry.syncBundle(id(), agentBundle(4, ['node', 'a.js']));
    const other = await registry.syncBundle(id(), agentBundle(4, ['node', 'b.js']));
    expect(other).toMatchObject({
      state: 'rejected',
      diagnostics: [expect.objectContaining({ code: 'config_bundle_immutable' })],
    });
    expect(registry.entry(id()).bundles.map((record) => record.state)).toEqual([
      'accepted',
      'rejected',
    ]);
  });

  it('syncs the bundle before creating a worker when the runtime lacks it, once', async () => {
    const bundle = agentBundle(5);
    const worker = await registry.createWorker(id(), workerRequest(bundle, 'w-1'), bundle);
    expect(worker).toMatchObject({ workerId: 'w-1', state: 'running', mode: 'bundle' });
    expect(methods()).toEqual(['checkBundle', 'storeBundle', 'createWorker']);
    expect(registry.entry(id()).bundles.map((record) => record.state)).toEqual(['accepted']);

    await registry.createWorker(id(), workerRequest(bundle, 'w-2'), bundle);
    expect(methods()).toEqual([
      'checkBundle',
      'storeBundle',
      'createWorker',
      'checkBundle',
      'createWorker',
    ]);
  });

  it('fails with worker_config_bundle_sync_rejected when the runtime refuses the bundle', async () => {
    const bundle = tamperedBundle();
    const error = await caught(registry.createWorker(id(), workerRequest(bundle), bundle));
    expect(error.code).toBe('worker_config_bundle_sync_rejected');
    expect(error.message).toContain('config_bundle_digest_mismatch');
    expect(methods()).not.toContain('createWorker');
    expect(registry.entry(id()).bundles[0]?.state).toBe('rejected');
  });

  it('passes the runtime refusal on when no bundle is given, and checks the bundle matches', async () => {
    const bundle = agentBundle(6);
    expect(await caught(registry.createWorker(id(), workerRequest(bundle)))).toMatchObject({
      code: 'config_bundle_missing',
    });
    expect(
      await caught(registry.createWorker(id(), workerRequest(bundle), agentBundle(7))),
    ).toMatchObject({ code: 'invalid_request' });
    const builtin = await registry.createWorker(id(), {
      profile: { kind: 'builtin', value: 'python-kernel' },
    });
    expect(builtin).toMatchObject({ mode: 'builtin', kind: 'kernel' });
  });

  it('probes health on start and on every tick, and records failures by code only', async () => {
    const timers = manualTimers();
    const seen: RuntimeHealth[] = [];
    const probing = new RuntimeRegistry({ timers, onHealth: (_id, health) => seen.push(health) });
    const other = await fixtures[kind]();
    try {
      probing.register(other.host);
      expect(probing.entry(other.host.id).health).toMatchObject({
        status: 'degraded',
        details: 'not probed yet',
      });
      probing.start();
      await expect.poll(() => seen.length).toBe(1);
      expect(probing.entry(other.host.id).health.status).toBe('ok');

      other.api.health = 'degraded';
      timers.fire();
      await expect.poll(() => seen.length).toBe(2);
      expect(probing.entry(other.host.id).health.status).toBe('degraded');

      other.api.failNext = Object.assign(new Error('EIO reading /home/alice/.runyard/db'), {
        code: 'something_unknown',
      });
      timers.fire();
      await expect.poll(() => seen.length).toBe(3);
      expect(probing.entry(other.host.id).health).toMatchObject({
        status: 'unreachable',
        details: kind === 'remote' ? 'remote_runtime_http_error' : 'probe_failed',
      });
      expect(JSON.stringify(probing.list())).not.toContain('/home/alice');

      probing.stop();
      expect(timers.active()).toBe(0);
    } finally {
      await probing.close();
      await other.close();
    }
  });
});

describe('RuntimeRegistry bookkeeping', () => {
  it('registers, picks a default, refuses duplicates and removing the default', async () => {
    const a = tempRuntime('a');
    const b = tempRuntime('b');
    const registry = new RuntimeRegistry();
    try {
      const hostA = new EmbeddedRuntimeHost(a.api, { id: 'a' });
      const hostB = new EmbeddedRuntimeHost(b.api, { id: 'b' });
      expect(registry.register(hostA).default).toBe(true);
      expect(registry.register(hostB).default).toBe(false);
      expect(() => registry.register(new EmbeddedRuntimeHost(a.api, { id: 'a' }))).toThrow(
        expect.objectContaining({ code: 'runtime_exists' }),
      );
      expect(registry.defaultRuntime()).toBe(hostA);
      expect(registry.get('b')).toBe(hostB);
      expect(() => registry.get('nope')).toThrow(
        expect.objectContaining({ code: 'runtime_not_found' }),
      );
      expect(await caught(registry.unregister('a'))).toMatchObject({
        code: 'default_runtime_not_removable',
      });
      registry.setDefault('b');
      await registry.unregister('a');
      expect(registry.list().map((entry) => [entry.id, entry.default])).toEqual([['b', true]]);
      expect(await caught(hostA.describe())).toMatchObject({ code: 'runtime_closed' });
    } finally {
      await registry.close();
      a.close();
      b.close();
    }
  });

  it('records a hanging probe as unreachable', async () => {
    const runtime = tempRuntime('stuck');
    const registry = new RuntimeRegistry({ probeTimeoutMs: 50 });
    try {
      runtime.api.describe = () => new Promise(() => undefined);
      registry.register(new EmbeddedRuntimeHost(runtime.api, { id: 'stuck' }));
      expect(await registry.probe('stuck')).toMatchObject({
        status: 'unreachable',
        details: 'remote_runtime_unreachable',
      });
    } finally {
      await registry.close();
      runtime.close();
    }
  });

  it('marks a remote runtime unreachable once its server is gone', async () => {
    const served = await serveMemoryRuntime('gone');
    const registry = new RuntimeRegistry();
    try {
      registry.register(
        new RemoteRuntimeHost({ id: 'gone', url: served.server.url, token: TOKEN }),
      );
      expect((await registry.probe('gone')).status).toBe('ok');
      await served.server.close();
      expect(await registry.probe('gone')).toMatchObject({
        status: 'unreachable',
        details: 'remote_runtime_unreachable',
      });
    } finally {
      await registry.close();
      await served.close();
    }
  });

  it('closes every host and drops their event subscriptions', async () => {
    const runtime = tempRuntime('closing');
    let closed = 0;
    const host = new EmbeddedRuntimeHost(runtime.api, {
      id: 'closing',
      onClose: () => {
        closed += 1;
      },
    });
    const registry = new RuntimeRegistry();
    registry.register(host);
    host.subscribe(() => undefined);
    expect(runtime.api.subscriberCount).toBe(1);
    await registry.close();
    await host.close();
    expect(closed).toBe(1);
    expect(runtime.api.subscriberCount).toBe(0);
    expect(registry.list()).toEqual([]);
    runtime.close();
  });
});
