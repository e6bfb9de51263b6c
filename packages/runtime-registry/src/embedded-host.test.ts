import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmbeddedRuntimeHost,
  RemoteRuntimeHost,
  RuntimeError,
  type RuntimeEvent,
  RuntimeRegistry,
} from './index.js';
import { type Served, serveMemoryRuntime, TOKEN, tempRuntime } from './test-support/harness.js';

describe('EmbeddedRuntimeHost', () => {
  let runtime: ReturnType<typeof tempRuntime>;

  beforeEach(() => {
    runtime = tempRuntime();
  });

  afterEach(() => {
    runtime.close();
  });

  it('passes the runtime’s typed errors through unchanged', async () => {
    const host = new EmbeddedRuntimeHost(runtime.api);
    const original = new RuntimeError('notebook_awaiting_trust', 'approve first');
    runtime.api.failNext = original;
    await expect(host.execute('nb', { code: '1' })).rejects.toBe(original);
    expect(host.toJSON()).toEqual({ id: 'embedded', kind: 'embedded' });
  });

  it('delivers events until unsubscribed or closed, then refuses calls', async () => {
    let closed = 0;
    const host = new EmbeddedRuntimeHost(runtime.api, { id: 'desk', onClose: () => void closed++ });
    const events: RuntimeEvent[] = [];
    const unsubscribe = host.subscribe((event) => events.push(event));
    host.subscribe(() => undefined);
    await host.createNotebook({ path: 'a.ipynb' });
    expect(events.map((event) => event.type)).toEqual(['lifecycle']);
    unsubscribe();
    unsubscribe();
    expect(runtime.api.subscriberCount).toBe(1);
    await host.close();
    await host.close();
    expect(closed).toBe(1);
    expect(runtime.api.subscriberCount).toBe(0);
    await expect(host.listNotebooks()).rejects.toMatchObject({ code: 'runtime_closed' });
    expect(() => host.subscribe(() => undefined)).toThrow(
      expect.objectContaining({ code: 'runtime_closed' }),
    );
  });
});

describe('one registry holding an embedded and a remote runtime', () => {
  let served: Served;
  let local: ReturnType<typeof tempRuntime>;
  let registry: RuntimeRegistry;

  beforeEach(async () => {
    served = await serveMemoryRuntime('remote-runtime');
    local = tempRuntime('local-runtime');
    registry = new RuntimeRegistry();
    registry.register(new EmbeddedRuntimeHost(local.api, { id: 'local' }));
    registry.register(
      new RemoteRuntimeHost({
        id: 'remote',
        url: served.server.url,
        token: TOKEN,
        reconnectDelayMs: 10,
      }),
    );
  });

  afterEach(async () => {
    await registry.close();
    await served.close();
    local.close();
  });

  it('answers the same calls with the same shapes from both', async () => {
    const local = await registry.get('local').createNotebook({ path: 'same.ipynb' });
    const remote = await registry.get('remote').createNotebook({ path: 'same.ipynb' });
    expect({ ...remote, notebookId: 'x' }).toEqual({ ...local, notebookId: 'x' });
    expect(registry.defaultRuntime().id).toBe('local');
    await registry.probeAll();
    expect(registry.list().map((entry) => [entry.id, entry.kind, entry.health.status])).toEqual([
      ['local', 'embedded', 'ok'],
      ['remote', 'remote', 'ok'],
    ]);
  });

  it('resubscribes the remote event stream after the server drops it', async () => {
    const remote = registry.get('remote') as RemoteRuntimeHost;
    const events: RuntimeEvent[] = [];
    remote.subscribe((event) => events.push(event));
    await remote.whenSubscribed();
    const made = served.api.subscriptionsMade;
    for (const client of served.server.app.websocketServer.clients) client.terminate();
    await expect.poll(() => served.api.subscriptionsMade).toBe(made + 1);
    await remote.whenSubscribed();
    await expect.poll(() => served.api.subscriberCount).toBe(1);
    await remote.createNotebook({ path: 'after-reconnect.ipynb' });
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lifecycle' });
  });
});
