import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type Runtime } from '@runyard/embedded-runtime';
import { processesMentioning } from '@runyard/kernels';
import { type RuntimeServer, startRuntimeServer } from '@runyard/runtime-registry/server';
import { until } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealTestBundle } from './test-support/bundle.js';
import {
  errorCode,
  type Harness,
  SYSTEM_PYTHON,
  startHarness,
  tempDir,
} from './test-support/harness.js';

const REMOTE_TOKEN = 'remote-secret-token-0123456789';
const WORKER_SECRET = 'worker-secret-value-0123456789';
const SECRET_SHA = createHash('sha256').update(WORKER_SECRET).digest('hex');

let h: Harness;
let remoteDir: string;
let remoteRuntime: Runtime;
let remote: RuntimeServer;

beforeAll(async () => {
  // A worker secret in the server's environment, as an operator provides it.
  h = await startHarness({ env: { RUNYARD_SECRET_API_TOKEN: WORKER_SECRET } });
  // A second, real runtime behind its own /v1 server on loopback (its own data dir).
  remoteDir = tempDir('runyard-remote-');
  remoteRuntime = await createRuntime({
    id: 'remote-api',
    dataDir: join(remoteDir, 'data'),
    cacheDir: join(remoteDir, 'cache'),
    configDir: join(remoteDir, 'config'),
    workspaceRoot: join(remoteDir, 'workspace'),
    python: SYSTEM_PYTHON,
    pool: { envs: 0, kernels: 0 },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  remote = await startRuntimeServer({ api: remoteRuntime, token: REMOTE_TOKEN });
});

afterAll(async () => {
  await h?.close();
  await remote?.close();
  await remoteRuntime?.close();
  if (remoteDir) {
    await until(() => processesMentioning(remoteDir).length === 0, 10_000);
    rmSync(remoteDir, { recursive: true, force: true });
  }
});

const bundle = () =>
  sealTestBundle(
    [
      {
        selector: { kind: 'named', value: 'echo' },
        worker: { kind: 'command', argv: ['echo', 'hello from a worker'] },
        grants: [],
      },
      {
        // Exits 0 only when the grant arrived as a placeholder and the value itself did not
        // (compared by hash: never in argv); the egress proxy swaps it in for granted hosts.
        selector: { kind: 'named', value: 'secret-check' },
        worker: {
          kind: 'command',
          argv: [
            'sh',
            '-c',
            `case "$API_TOKEN" in runyard-ph-*) ;; *) exit 1 ;; esac; [ "$(printf %s "$API_TOKEN" | sha256sum | cut -c1-64)" != "${SECRET_SHA}" ]`,
          ],
        },
        grants: ['API_TOKEN'],
      },
    ],
    [{ kind: 'secret_ref', name: 'API_TOKEN', reference: 'secret:api_token' }],
  );

interface Worker {
  workerId: string;
  state: string;
  kind: string;
  mode: string;
  exitCode?: number | null;
}

/** Creates a worker from a bundle profile through the API and waits for its exit. */
async function runEchoWorker(runtimeId: string | undefined, profile = 'echo') {
  const sealed = bundle();
  const created = await h.api('/api/workers', {
    method: 'POST',
    json: {
      ...(runtimeId ? { runtimeId } : {}),
      profile: { kind: 'named', value: profile },
      configBundle: { id: sealed.metadata.id, digest: sealed.metadata.digest },
      // The runtime lacks it: the server syncs it first.
      bundle: sealed,
    },
  });
  expect(created.status).toBe(201);
  const worker = (await created.json()) as Worker;
  expect(worker).toMatchObject({ kind: 'command', mode: 'bundle' });
  let last: Worker = worker;
  await until(async () => {
    last = (await (await h.api(`/api/workers/${worker.workerId}`)).json()) as Worker;
    return last.state === 'stopped' || last.state === 'failed';
  });
  expect(last).toMatchObject({ state: 'stopped', exitCode: 0 });
  return worker;
}

describe('workers from a config-bundle profile', () => {
  it('on the embedded runtime: sync the bundle, create the worker, it runs to exit 0', async () => {
    const sealed = bundle();
    const sync = await h.api('/api/runtimes/local/config-bundles', {
      method: 'POST',
      json: { bundle: sealed },
    });
    expect(sync.status).toBe(200);
    expect(await sync.json()).toMatchObject({ state: 'accepted' });
    const availability = await h.api(
      `/api/runtimes/local/config-bundles/ws-1.agents/availability?digest=${sealed.metadata.digest}`,
    );
    expect(await availability.json()).toMatchObject({ available: true });
    await runEchoWorker(undefined);
    // The worker whose profile grants the secret gets a placeholder, and no response carries it.
    const checked = await runEchoWorker(undefined, 'secret-check');
    const text = await (await h.api(`/api/workers/${checked.workerId}`)).text();
    expect(text).not.toContain(WORKER_SECRET);
    const rejected = await h.api('/api/runtimes/local/config-bundles', {
      method: 'POST',
      json: { bundle: { ...sealed, metadata: { ...sealed.metadata, revision: 2 } } },
    });
    expect(rejected.status).toBe(200);
    expect(await rejected.json()).toMatchObject({ state: 'rejected' });
  });

  it('unknown workers are 404 and a profile the bundle lacks is refused', async () => {
    expect((await h.api('/api/workers/nope')).status).toBe(404);
    expect((await h.api('/api/workers/nope', { method: 'DELETE' })).status).toBe(404);
    const sealed = bundle();
    const missing = await h.api('/api/workers', {
      method: 'POST',
      json: {
        profile: { kind: 'named', value: 'not-in-the-bundle' },
        configBundle: { id: sealed.metadata.id, digest: sealed.metadata.digest },
        bundle: sealed,
      },
    });
    expect(missing.status).toBeGreaterThanOrEqual(400);
    expect(missing.status).toBeLessThan(500);
  });
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

    // Used through the API: the bundle synced to it, a worker created and run there.
    const worker = await runEchoWorker('gpu-box');
    expect((await remoteRuntime.getWorker(worker.workerId)).state).toBe('stopped');
    expect((await remoteRuntime.listBundles()).map((b) => b.id)).toEqual(['ws-1.agents']);

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
