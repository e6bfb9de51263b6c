/**
 * Issue 22 §2 and the registration allowlist, with real parts: the workspace server with its
 * embedded runtime, a second real runtime behind its own /v1 server, and a hostile one (a real
 * runtime behind a real /v1 server whose answers claim other runtimes' worker ids).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type Runtime } from '@runyard/embedded-runtime';
import { processesMentioning } from '@runyard/kernels';
import type { RuntimeApi, WorkerInfo } from '@runyard/runtime-registry';
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
const WORKER_SECRET = 'worker-secret-value-for-routing-0123';

let h: Harness;
const dirs: string[] = [];
const runtimes: Runtime[] = [];
let remote: RuntimeServer;
let hostile: RuntimeServer;
let remoteRuntime: Runtime;
/** Ids the hostile runtime answers with; set by each test. */
let hostileAnswerId: string | undefined;

async function realRuntime(id: string): Promise<Runtime> {
  const dir = tempDir(`runyard-${id}-`);
  dirs.push(dir);
  const runtime = await createRuntime({
    id,
    dataDir: join(dir, 'data'),
    cacheDir: join(dir, 'cache'),
    configDir: join(dir, 'config'),
    workspaceRoot: join(dir, 'workspace'),
    python: SYSTEM_PYTHON,
    pool: { envs: 0, kernels: 0 },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  runtimes.push(runtime);
  return runtime;
}

/**
 * A real runtime whose /v1 answers lie about ids: a created worker is reported under
 * `hostileAnswerId`, and it claims to hold any worker id it is asked about.
 */
function lying(runtime: Runtime): RuntimeApi {
  return new Proxy(runtime as unknown as RuntimeApi, {
    get(target, name, receiver) {
      if (name === 'createWorker') {
        return async (request: unknown) => {
          const info = await target.createWorker(request);
          return { ...info, workerId: hostileAnswerId ?? info.workerId };
        };
      }
      if (name === 'getWorker' || name === 'stopWorker') {
        return async (workerId: string): Promise<WorkerInfo> => ({
          workerId,
          kind: 'command',
          mode: 'bundle',
          state: name === 'stopWorker' ? 'stopped' : 'running',
          createdAt: new Date(0).toISOString(),
          profile: { kind: 'named', value: 'sleeper' },
        });
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  remoteRuntime = await realRuntime('remote-api');
  remote = await startRuntimeServer({ api: remoteRuntime, token: REMOTE_TOKEN });
  hostile = await startRuntimeServer({
    api: lying(await realRuntime('hostile-api')),
    token: REMOTE_TOKEN,
  });
  h = await startHarness({
    env: { RUNYARD_SECRET_API_TOKEN: WORKER_SECRET },
    // Only these two may be registered; the server's own API (a loopback service) may not.
    overrides: { runtimeUrls: [remote.url, `${hostile.url}/`] },
  });
  for (const [id, server] of [
    ['remote', remote],
    ['hostile', hostile],
  ] as const) {
    const created = await h.api('/api/runtimes', {
      method: 'POST',
      json: { id, url: server.url, token: REMOTE_TOKEN },
    });
    expect(created.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await h?.close();
  await remote?.close();
  await hostile?.close();
  for (const runtime of runtimes) await runtime.close();
  for (const dir of dirs) {
    await until(() => processesMentioning(dir).length === 0, 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
});

const sealed = sealTestBundle(
  [
    {
      selector: { kind: 'named', value: 'sleeper' },
      worker: { kind: 'command', argv: ['sleep', '600'] },
      grants: ['API_TOKEN'],
    },
    {
      // The remotes hold no secrets: their workers are granted none.
      selector: { kind: 'named', value: 'plain-sleeper' },
      worker: { kind: 'command', argv: ['sleep', '600'] },
      grants: [],
    },
  ],
  [{ kind: 'secret_ref', name: 'API_TOKEN', reference: 'secret:api_token' }],
);

function createSleeper(runtimeId: string | undefined, workerId?: string) {
  return h.api('/api/workers', {
    method: 'POST',
    json: {
      ...(runtimeId ? { runtimeId } : {}),
      ...(workerId ? { workerId } : {}),
      profile: { kind: 'named', value: runtimeId ? 'plain-sleeper' : 'sleeper' },
      configBundle: { id: sealed.metadata.id, digest: sealed.metadata.digest },
      bundle: sealed,
    },
  });
}

async function localState(workerId: string): Promise<string> {
  return (await h.server.services.local().getWorker(workerId)).state;
}

describe('worker ids across runtimes', () => {
  it('the same id on another runtime is a typed 409 and the local worker stays reachable', async () => {
    const local = await createSleeper(undefined, 'shared');
    expect(local.status).toBe(201);
    await until(async () => (await localState('shared')) === 'running');

    const duplicate = await createSleeper('remote', 'shared');
    expect(duplicate.status).toBe(409);
    expect(await errorCode(duplicate)).toBe('worker_id_taken');
    // Refused before the remote was asked: it has no such worker.
    await expect(remoteRuntime.getWorker('shared')).rejects.toMatchObject({
      code: 'worker_not_found',
    });

    // The id still routes to the local worker, and stopping it stops the local one.
    expect(await (await h.api('/api/workers/shared')).json()).toMatchObject({ state: 'running' });
    const stopped = await h.api('/api/workers/shared', { method: 'DELETE' });
    expect(stopped.status).toBe(200);
    expect(await stopped.json()).toMatchObject({ workerId: 'shared', state: 'stopped' });
    expect(await localState('shared')).toBe('stopped');
  });

  it('concurrent creates of one id on two runtimes: exactly one wins', async () => {
    const answers = await Promise.all([
      createSleeper(undefined, 'race'),
      createSleeper('remote', 'race'),
    ]);
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409]);
    await h.api('/api/workers/race', { method: 'DELETE' });
  });

  it('a hostile remote answering with a local worker id cannot shadow it', async () => {
    expect((await createSleeper(undefined, 'victim')).status).toBe(201);
    await until(async () => (await localState('victim')) === 'running');

    // No id asked: the remote picks one and answers with the local worker's.
    hostileAnswerId = 'victim';
    const shadow = await createSleeper('hostile');
    expect(shadow.status).toBe(502);
    expect(await errorCode(shadow)).toBe('remote_worker_id_refused');
    // An id asked for and another answered: refused the same way.
    hostileAnswerId = 'something-else';
    const swapped = await createSleeper('hostile', 'asked-for');
    expect(swapped.status).toBe(502);
    expect(await errorCode(swapped)).toBe('remote_worker_id_refused');
    hostileAnswerId = undefined;

    // The hostile remote claims every id, but routing never asks it about a local one.
    const got = await h.api('/api/workers/victim');
    expect(await got.json()).toMatchObject({ workerId: 'victim', state: 'running' });
    expect(await localState('victim')).toBe('running');
    const stopped = await h.api('/api/workers/victim', { method: 'DELETE' });
    expect(await stopped.json()).toMatchObject({ state: 'stopped' });
    expect(await localState('victim')).toBe('stopped');
    // No answer anywhere carries the local worker's secret.
    const list = await (await h.api('/api/runtimes')).text();
    expect(list).not.toContain(WORKER_SECRET);
  });

  it('unregistering a runtime frees the ids it held', async () => {
    const created = await createSleeper('remote', 'on-remote');
    expect(created.status).toBe(201);
    expect((await h.api('/api/workers/on-remote', { method: 'DELETE' })).status).toBe(200);
    expect((await h.api('/api/runtimes/remote', { method: 'DELETE' })).status).toBe(204);
    const again = await createSleeper(undefined, 'on-remote');
    expect(again.status).toBe(201);
    expect((await h.api('/api/workers/on-remote', { method: 'DELETE' })).status).toBe(200);
  });
});

describe('remote runtime registration is limited to the configured URL patterns', () => {
  it('refuses a URL no pattern matches (e.g. this server’s own API) with a typed 403', async () => {
    // Patterns match the URL as written: the remote under another name is not allowed either.
    for (const url of [`${h.url}/api`, h.url, `http://localhost:${remote.port}`]) {
      const refused = await h.api('/api/runtimes', {
        method: 'POST',
        json: { id: 'forger', url, token: REMOTE_TOKEN },
      });
      expect(refused.status, url).toBe(403);
      expect(await errorCode(refused)).toBe('runtime_url_not_allowed');
    }
    expect((await h.api('/api/runtimes/forger/health')).status).toBe(404);
  });
});
