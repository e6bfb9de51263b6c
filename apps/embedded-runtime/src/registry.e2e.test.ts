// One RuntimeRegistry holding the runtime in-process (`local`) and the same runtime as a real
// `runyard-runtime serve` child process (`remote`), driven through the same scenarios with real
// kernels, a real SQLite bundle store, real worker processes and real HTTP/WebSocket.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { type ConfigBundle, createEnvSecretResolver, sealBundle } from '@runyard/config-bundles';
import {
  EmbeddedRuntimeHost,
  RemoteRuntimeHost,
  type RuntimeEvent,
  type RuntimeHost,
  RuntimeInfoSchema,
  RuntimeRegistry,
  WorkerInfoSchema,
} from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  type Dirs,
  dirArgs,
  dirsUnder,
  downloadedNotebook,
  plainResult,
  processesMentioning,
  removeRoot,
  runtimeFor,
  SYSTEM_PYTHON,
  spawnCli,
  tempRoot,
  until,
} from './test-support/helpers.js';

const TOKEN = `e2e-token-${randomUUID()}`;
const SECRET = `e2e-secret-${randomUUID()}`;
// On the sleeper worker's command line, so /proc tells whether it still runs.
const SLEEPER = `runyard-e2e-sleeper-${randomUUID().slice(0, 8)}`;

// The worker prints its secret in two writes (so redaction must work across chunks) and a hash
// of it, so the test sees the value arrived without the value ever being in an event.
const ECHO = `
const v = process.env.API_TOKEN || '';
process.stdout.write('value: ' + v.slice(0, 9));
setTimeout(() => {
  process.stdout.write(v.slice(9) + ' end\\n');
  console.log('sha: ' + require('node:crypto').createHash('sha256').update(v).digest('hex'));
}, 50);
`.replace(/\n/g, ' ');

function agentsBundle(id: string, revision = 1): ConfigBundle {
  return sealBundle({
    metadata: {
      id,
      revision,
      workspaceId: 'ws-e2e',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'e2e-test' },
    },
    profiles: [
      {
        selector: { kind: 'named', value: 'echoer' },
        worker: { kind: 'command', argv: ['node', '-e', ECHO], cwd: 'agents' },
        grants: ['API_TOKEN'],
      },
      {
        selector: { kind: 'named', value: 'sleeper' },
        worker: { kind: 'command', argv: ['node', '-e', 'setInterval(() => {}, 1000)', SLEEPER] },
        grants: [],
      },
    ],
    declarations: [{ kind: 'secret_ref', name: 'API_TOKEN', reference: 'secret:api_token' }],
  });
}

/** A bundle whose content no longer matches its digest. */
function tampered(bundle: ConfigBundle): ConfigBundle {
  const copy = structuredClone(bundle);
  copy.metadata.workspaceId = 'ws-other';
  return copy;
}

async function caught(
  promise: Promise<unknown>,
): Promise<Error & { code: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: string; status?: number };
  }
  throw new Error('expected a failure');
}

interface Server {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

/** `runyard-runtime serve` as a child process; resolves with the URL it prints. */
async function serve(dirs: Dirs): Promise<Server> {
  const child = spawnCli(
    [
      'serve',
      '--port',
      '0',
      '--id',
      'remote',
      ...dirArgs(dirs),
      '--python',
      SYSTEM_PYTHON,
      '--pool-envs',
      '0',
      '--pool-kernels',
      '0',
    ],
    // The token and the worker secret come from the environment, never argv. Every
    // dependency these scenarios name is already in Debian's python: no index is needed.
    {
      ...process.env,
      RUNYARD_RUNTIME_TOKEN: TOKEN,
      RUNYARD_SECRET_API_TOKEN: SECRET,
      PIP_NO_INDEX: '1',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${stderr}`)), 45_000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^Runyard runtime listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the runtime server exited early: ${stderr}`));
    });
  });
  return { child, url, exited };
}

let root: string;
const dirs: Record<'local' | 'remote', Dirs> = {} as Record<'local' | 'remote', Dirs>;
let runtime: Runtime;
let server: Server;
let registry: RuntimeRegistry;
const events: Record<string, RuntimeEvent[]> = { local: [], remote: [] };

beforeAll(async () => {
  root = tempRoot('e2e');
  dirs.local = dirsUnder(join(root, 'local'));
  dirs.remote = dirsUnder(join(root, 'remote'));
  for (const side of Object.values(dirs)) mkdirSync(join(side.workspaceRoot, 'agents'));
  [runtime, server] = await Promise.all([
    runtimeFor(dirs.local, {
      id: 'local',
      secrets: createEnvSecretResolver({ env: { RUNYARD_SECRET_API_TOKEN: SECRET } }),
    }),
    serve(dirs.remote),
  ]);
  registry = new RuntimeRegistry();
  registry.register(
    new EmbeddedRuntimeHost(runtime, { id: 'local', onClose: () => runtime.close() }),
    { default: true },
  );
  const remote = new RemoteRuntimeHost({ id: 'remote', url: server.url, token: TOKEN });
  registry.register(remote);
  registry.get('local').subscribe((event) => events.local?.push(event));
  remote.subscribe((event) => events.remote?.push(event));
  await remote.whenSubscribed();
});

afterAll(async () => {
  await registry?.close();
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  // Kernels of a server killed mid-call are orphans; every process this suite started has the
  // temp root on its command line.
  if (root) {
    for (const pid of processesMentioning(root)) process.kill(pid, 'SIGKILL');
    await until(() => processesMentioning(root).length === 0, 10_000);
    removeRoot(root);
  }
});

describe.each(['local', 'remote'] as const)('the %s runtime through the registry', (id) => {
  const host = (): RuntimeHost => registry.get(id);
  const ws = () => dirs[id].workspaceRoot;

  it('reports itself healthy with its id and capabilities', async () => {
    const health = await registry.probe(id);
    expect(health.status).toBe('ok');
    const descriptor = await host().describe();
    expect(descriptor.id).toBe(id);
    expect(descriptor.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(descriptor.capabilities).toEqual(
      expect.arrayContaining(['notebooks', 'workers', 'config-bundles', 'events']),
    );
    const pool = await host().pool();
    expect(pool).toMatchObject({ envPool: { size: 0 }, kernelPool: { size: 0 } });
  });

  it('create with explicit dependencies is consent: idle, and 1+1 runs', async () => {
    const info = await host().createNotebook({ path: 'fresh.ipynb', dependencies: ['packaging'] });
    expect(RuntimeInfoSchema.parse(info)).toEqual(info);
    expect(info).toMatchObject({
      path: 'fresh.ipynb',
      runtime: 'python',
      lifecycle: 'idle',
      envSource: 'uv:inline',
      trust: { status: 'trusted', needsApproval: false, untrusted: [] },
    });
    expect(info.nextAction).toBeUndefined();
    const result = await host().execute(info.notebookId, { code: '1+1' });
    expect(result.status).toBe('ok');
    expect(plainResult(result)).toBe('2');
    const written = JSON.parse(readFileSync(join(ws(), 'fresh.ipynb'), 'utf8'));
    expect(written.metadata.uv.dependencies).toEqual(['packaging']);
  });

  it('open of a downloaded notebook stops at awaiting_trust; its nextAction leads out', async () => {
    writeFileSync(join(ws(), 'downloaded.ipynb'), downloadedNotebook(['six']));
    const info = await host().openNotebook('downloaded.ipynb');
    expect(info.lifecycle).toBe('awaiting_trust');
    expect(info.kernelStatus).toBeNull();
    expect(info.trust).toMatchObject({ status: 'untrusted', needsApproval: true });
    expect(info.trust.untrusted).toEqual([{ ecosystem: 'pypi', name: 'six', spec: 'six' }]);
    expect(info.nextAction).toMatchObject({
      kind: 'approve_dependencies',
      http: { method: 'POST', body: { trust: true, fingerprint: info.trust.fingerprint } },
    });
    const refused = await caught(host().execute(info.notebookId, { code: '1+1' }));
    expect(refused.code).toBe('notebook_awaiting_trust');
    expect((await host().getNotebook(info.notebookId)).lifecycle).toBe('awaiting_trust');

    // A headless caller does exactly what nextAction says; nothing waits for a human.
    const body = info.nextAction?.http.body as { trust: boolean; fingerprint: string };
    const approved = await host().manageDependencies(info.notebookId, body);
    expect(approved.lifecycle).toBe('idle');
    expect(approved.trust.status).toBe('trusted');
    expect(approved.nextAction).toBeUndefined();
    const result = await host().execute(info.notebookId, { code: 'import six; 1+1' });
    expect(plainResult(result)).toBe('2');
    const saved = JSON.parse(readFileSync(join(ws(), 'downloaded.ipynb'), 'utf8'));
    expect(saved.cells).toEqual(JSON.parse(downloadedNotebook(['six'])).cells);
  });

  it('a create that restores an existing non-empty notebook grants nothing', async () => {
    const original = downloadedNotebook(['xmltodict']);
    writeFileSync(join(ws(), 'restored.ipynb'), original);
    const info = await host().createNotebook({
      path: 'restored.ipynb',
      dependencies: ['xmltodict'],
    });
    expect(info.lifecycle).toBe('awaiting_trust');
    expect(info.trust.untrusted.map((d) => d.name)).toEqual(['xmltodict']);
    expect(info.nextAction?.kind).toBe('approve_dependencies');
    expect(readFileSync(join(ws(), 'restored.ipynb'), 'utf8')).toBe(original);
  });

  it('bundle sync: accepted, idempotent, rejected with diagnostics', async () => {
    const bundle = agentsBundle('ws-e2e.sync');
    const first = await registry.syncBundle(id, bundle);
    expect(first).toMatchObject({ state: 'accepted', diagnostics: [] });
    expect(first.availability?.summary).toMatchObject({
      id: 'ws-e2e.sync',
      digest: bundle.metadata.digest,
    });
    const again = await registry.syncBundle(id, bundle);
    expect(again.state).toBe('accepted');
    const refused = await registry.syncBundle(id, tampered(agentsBundle('ws-e2e.sync', 2)));
    expect(refused.state).toBe('rejected');
    expect(refused.diagnostics.map((d) => d.code)).toEqual(['config_bundle_digest_mismatch']);

    // Past the body limit of the /v1 server (2 MiB) or the bundle store's own limit.
    const oversized = { ...agentsBundle('ws-e2e.sync', 3), padding: 'x'.repeat(3 * 1024 * 1024) };
    const tooLarge = await registry.syncBundle(id, oversized);
    expect(tooLarge.state).toBe('rejected');
    if (id === 'remote') expect(tooLarge.diagnostics[0]?.code).toBe('body_too_large');

    const records = registry.entry(id).bundles.filter((b) => b.id === 'ws-e2e.sync');
    expect(records.map((r) => r.state)).toEqual(['accepted', 'rejected', 'rejected']);
    expect(records[0]?.digest).toBe(bundle.metadata.digest);
    const held = (await host().listBundles()).filter((b) => b.id === 'ws-e2e.sync');
    expect(held.map((b) => b.digest)).toEqual([bundle.metadata.digest]);
    const ref = { id: 'ws-e2e.sync', digest: bundle.metadata.digest };
    expect((await registry.checkBundle(id, ref)).available).toBe(true);
  });

  it('a command worker gets a placeholder for its secret; no output event carries the value', async () => {
    const bundle = agentsBundle('ws-e2e.workers');
    const workerId = `echo-${id}`;
    const request = {
      workerId,
      profile: { kind: 'named', value: 'echoer' },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    };
    // The runtime lacks the bundle: the registry syncs it first.
    const worker = await registry.createWorker(id, request, bundle);
    expect(WorkerInfoSchema.parse(worker)).toEqual(worker);
    expect(worker).toMatchObject({ workerId, kind: 'command', mode: 'bundle' });
    expect(registry.entry(id).bundles).toContainEqual(
      expect.objectContaining({ id: 'ws-e2e.workers', state: 'accepted' }),
    );
    await until(() =>
      (events[id] ?? []).some(
        (e) =>
          e.type === 'worker_state' &&
          e.worker.workerId === workerId &&
          e.worker.state !== 'running' &&
          e.worker.state !== 'starting',
      ),
    );
    expect(await host().getWorker(workerId)).toMatchObject({ state: 'stopped', exitCode: 0 });
    const stdout = (events[id] ?? [])
      .filter((e) => e.type === 'worker_output' && e.workerId === workerId)
      .map((e) => (e as Extract<RuntimeEvent, { type: 'worker_output' }>).text)
      .join('');
    // The grant arrives as an opaque placeholder (the egress proxy swaps in the value on granted
    // requests only); the value itself never enters the worker.
    expect(stdout).toMatch(/value: runyard-ph-[A-Za-z0-9_-]+ end/);
    expect(stdout).not.toContain(`sha: ${createHash('sha256').update(SECRET).digest('hex')}`);
    const everything = JSON.stringify(events[id]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(SECRET.slice(9));
    expect(JSON.stringify(await host().listWorkers())).not.toContain(SECRET);

    // A bundle the runtime refuses is never used to create the worker.
    const bad = tampered(agentsBundle('ws-e2e.refused'));
    const refused = await caught(
      registry.createWorker(
        id,
        {
          ...request,
          workerId: `refused-${id}`,
          configBundle: { id: bad.metadata.id, digest: bad.metadata.digest },
        },
        bad,
      ),
    );
    expect(refused.code).toBe('worker_config_bundle_sync_rejected');
    expect((await host().listWorkers()).map((w) => w.workerId)).toEqual([workerId]);

    const sleeper = await registry.createWorker(id, {
      workerId: `sleeper-${id}`,
      profile: { kind: 'named', value: 'sleeper' },
      configBundle: request.configBundle,
    });
    await until(async () => (await host().getWorker(sleeper.workerId)).state === 'running');
    // The worker, and under the sandbox its bwrap parent and pid-namespace init.
    expect(processesMentioning(SLEEPER).length).toBeGreaterThan(0);
    expect((await host().stopWorker(sleeper.workerId)).state).toBe('stopped');
    expect(processesMentioning(SLEEPER)).toEqual([]);
    const gone = await caught(host().getWorker('no-such-worker'));
    expect(gone.code).toBe('worker_not_found');
  });

  it('interrupt, restart and shutdown drive the real kernel', async () => {
    const [info] = (await host().listNotebooks()).filter((n) => n.path === 'downloaded.ipynb');
    if (!info) throw new Error('the downloaded notebook is missing');
    const from = events[id]?.length ?? 0;
    const running = host().execute(info.notebookId, {
      code: 'import time; print("sleeping", flush=True); time.sleep(30)',
    });
    await until(() =>
      (events[id] ?? [])
        .slice(from)
        .some(
          (e) =>
            e.type === 'output' &&
            e.notebookId === info.notebookId &&
            e.output.output_type === 'stream' &&
            e.output.text.includes('sleeping'),
        ),
    );
    await host().interrupt(info.notebookId);
    const interrupted = await running;
    expect(interrupted.status).toBe('error');
    expect(interrupted.outputs).toContainEqual(
      expect.objectContaining({ output_type: 'error', ename: 'KeyboardInterrupt' }),
    );

    const run = async (code: string) => {
      // Right after an error ipykernel aborts requests for a moment; ask again.
      for (let attempt = 0; attempt < 20; attempt++) {
        const result = await host().execute(info.notebookId, { code });
        if (result.status === 'ok') return plainResult(result);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('every execute was aborted');
    };
    // A fresh process forgets the namespace (a pid would not do: in the sandbox's own pid
    // namespace every kernel is pid 2).
    expect(await run("_before_restart = 1; '_before_restart' in globals()")).toBe('True');
    const restarted = await host().restart(info.notebookId);
    expect(restarted.lifecycle).toBe('idle');
    expect(await run("'_before_restart' in globals()")).toBe('False');
    const down = await host().shutdown(info.notebookId);
    expect(down).toMatchObject({ lifecycle: 'shutdown', kernelStatus: null });
    const missing = await caught(host().getNotebook('no-such-notebook'));
    expect(missing.code).toBe('notebook_not_found');
  });

  it('dependency edits are atomic and leave every unrelated byte as it was', async () => {
    // Python-written details JavaScript would re-serialise differently: 1.0, escapes, order.
    const original =
      '{\n "cells": [\n  {\n   "cell_type": "markdown",\n   "id": "m1",\n   "metadata": {"x": 1.0},\n   "source": ["caf\\u00e9 \\u2603 <b>"]\n  }\n ],\n "metadata": {\n  "zeta": 1.50,\n  "uv": {\n   "dependencies": [\n    "toml"\n   ],\n   "extra-key": 2.0\n  },\n  "alpha": {"nested": [1e-05]}\n },\n "nbformat": 4,\n "nbformat_minor": 5\n}\n';
    mkdirSync(join(ws(), 'edits'));
    const file = join(ws(), 'edits', 'edit.ipynb');
    writeFileSync(file, original);
    writeFileSync(join(ws(), 'edits', 'neighbour.txt'), 'untouched\n');
    const info = await host().openNotebook('edits/edit.ipynb');
    expect(info.lifecycle).toBe('awaiting_trust');

    const edited = await host().manageDependencies(info.notebookId, { add: ['pyparsing'] });
    expect(edited.trust.untrusted.map((d) => d.name).sort()).toEqual(['pyparsing', 'toml']);
    const before = original.slice(0, original.indexOf('"dependencies"'));
    const after = original.slice(original.indexOf('],\n   "extra-key"') + 1);
    expect(readFileSync(file, 'utf8')).toBe(
      `${before}"dependencies": [\n    "toml",\n    "pyparsing"\n   ]${after}`,
    );
    await host().manageDependencies(info.notebookId, { remove: ['pyparsing'] });
    expect(readFileSync(file, 'utf8')).toBe(original);
    // Nothing but the notebook changed: no temp file left, the neighbour intact.
    expect(readdirSync(join(ws(), 'edits')).sort()).toEqual(['edit.ipynb', 'neighbour.txt']);
    expect(readFileSync(join(ws(), 'edits', 'neighbour.txt'), 'utf8')).toBe('untouched\n');
  });
});

describe('failures that only a remote runtime has', () => {
  it('a remote error whose message names a filesystem path reaches the caller without it', async () => {
    // A strict request schema names an unknown key in its message; here the key is a path.
    const path = join(dirs.remote.root, 'private', 'credentials.json');
    const request = { profile: { kind: 'named', value: 'echoer' }, [path]: true };
    const raw = await fetch(`${server.url}/v1/workers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    expect(raw.status).toBe(400);
    const body = (await raw.json()) as { error: { code: string; message: string } };
    expect(body.error.message).toContain(path);

    const error = await caught(registry.createWorker('remote', request));
    expect(error.code).toBe(body.error.code);
    expect(error.status).toBe(400);
    for (const shown of [error.message, error.stack ?? '', inspect(error), JSON.stringify(error)]) {
      expect(shown).not.toContain(dirs.remote.root);
      expect(shown).not.toContain(TOKEN);
    }
  });

  it('a wrong token is remote_runtime_auth_failed, and the probe records it', async () => {
    const wrong = `wrong-${randomUUID()}`;
    registry.register(
      new RemoteRuntimeHost({ id: 'remote-wrong-token', url: server.url, token: wrong }),
    );
    const error = await caught(
      registry.syncBundle('remote-wrong-token', agentsBundle('ws-e2e.auth')),
    );
    expect(error.code).toBe('remote_runtime_auth_failed');
    expect(error.status).toBe(401);
    expect(`${error.message} ${inspect(error)}`).not.toContain(wrong);
    const health = await registry.probe('remote-wrong-token');
    expect(health).toMatchObject({ status: 'unreachable', details: 'remote_runtime_auth_failed' });
    expect(registry.entry('remote-wrong-token').bundles).toEqual([]);
    expect(inspect(registry.get('remote-wrong-token'))).not.toContain(wrong);
    await registry.unregister('remote-wrong-token');
  });

  it('the remote server killed mid-call is remote_runtime_unreachable', async () => {
    const [notebook] = (await registry.get('remote').listNotebooks()).filter(
      (n) => n.path === 'fresh.ipynb',
    );
    if (!notebook) throw new Error('the fresh notebook is missing');
    // Only events from now on: the earlier 1+1 was busy too.
    const from = events.remote?.length ?? 0;
    const busy = until(() =>
      (events.remote ?? [])
        .slice(from)
        .some(
          (e) =>
            e.type === 'lifecycle' &&
            e.notebookId === notebook.notebookId &&
            e.info.lifecycle === 'busy',
        ),
    );
    const running = caught(
      registry.get('remote').execute(notebook.notebookId, { code: 'import time; time.sleep(60)' }),
    );
    await busy;
    server.child.kill('SIGKILL');
    const error = await running;
    expect(error.code).toBe('remote_runtime_unreachable');
    expect(error.message).not.toContain(server.url);
    expect(await registry.probe('remote')).toMatchObject({
      status: 'unreachable',
      details: 'remote_runtime_unreachable',
    });
    // The embedded runtime does not care.
    expect((await registry.probe('local')).status).toBe('ok');
  });
});
