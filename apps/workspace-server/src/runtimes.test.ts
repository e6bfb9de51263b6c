import { type RuntimeServer, startRuntimeServer } from '@runyard/runtime-registry/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, type Harness, startHarness } from './test-support/harness.js';
import { placeholderHost } from './test-support/provider.js';

const REMOTE_TOKEN = 'remote-secret-token-0123456789';

let h: Harness;
let remote: RuntimeServer;

beforeAll(async () => {
  h = await startHarness();
  // A real /v1 runtime server on loopback.
  // TODO(runtime parts): serve createRuntime's API here once the embedded runtime is on main.
  remote = await startRuntimeServer({ api: placeholderHost('remote-api'), token: REMOTE_TOKEN });
});

afterAll(async () => {
  await h?.close();
  await remote?.close();
});

describe('remote runtimes through the API', () => {
  it('registers, lists, probes and unregisters without ever returning the credentials', async () => {
    const withCredentials = remote.url.replace('http://', 'http://operator:url-password-xyz@');
    const created = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id: 'gpu-box', url: withCredentials, token: REMOTE_TOKEN },
    });
    expect(created.status).toBe(201);
    const text = await created.text();
    expect(JSON.parse(text)).toMatchObject({ id: 'gpu-box', kind: 'remote', default: false });

    const health = await h.api('/api/runtimes/gpu-box/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });

    const list = await (await h.api('/api/runtimes')).text();
    const availability = await h.api(
      `/api/runtimes/gpu-box/config-bundles/ws-1.agents/availability?digest=${'a'.repeat(64)}`,
    );
    expect(availability.status).toBe(404);
    const availabilityText = await availability.text();
    for (const body of [text, list, availabilityText]) {
      expect(body).not.toContain(REMOTE_TOKEN);
      expect(body).not.toContain('url-password-xyz');
      expect(body).not.toContain('operator');
    }
    expect(JSON.parse(list).runtimes.map((r: { id: string }) => r.id)).toEqual([
      'local',
      'gpu-box',
    ]);

    const duplicate = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id: 'gpu-box', url: remote.url, token: REMOTE_TOKEN },
    });
    expect(duplicate.status).toBe(409);
    expect(await errorCode(duplicate)).toBe('runtime_exists');

    expect((await h.api('/api/runtimes/gpu-box', { method: 'DELETE' })).status).toBe(204);
    expect((await h.api('/api/runtimes/gpu-box/health')).status).toBe(404);
  });

  it('a remote with the wrong token is reported unhealthy, with no detail leaking the token', async () => {
    const created = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id: 'wrong', url: remote.url, token: 'not-the-remote-token-123' },
    });
    expect(created.status).toBe(201);
    const health = await h.api('/api/runtimes/wrong/health');
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; details?: string };
    expect(body.status).not.toBe('ok');
    expect(JSON.stringify(body)).not.toContain('not-the-remote-token-123');
    const workers = await h.api('/api/workers', {
      method: 'POST',
      json: { runtimeId: 'wrong', profile: { kind: 'builtin', value: 'python-kernel' } },
    });
    expect(workers.status).toBe(502);
    expect(await errorCode(workers)).toBe('remote_runtime_auth_failed');
    expect((await h.api('/api/runtimes/wrong', { method: 'DELETE' })).status).toBe(204);
  });
});
