import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createEnvSecretResolver, sealBundle } from '@runyard/config-bundles';
import { type RuntimeEvent, WorkerInfoSchema } from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  type Dirs,
  dirsUnder,
  nextEvent,
  plainResult,
  processesMentioning,
  removeRoot,
  runtimeFor,
  tempRoot,
  until,
} from './test-support/helpers.js';

const SECRET = `s3cr3t-${randomUUID()}`;
// Every command worker's argv carries this, so /proc finds exactly this suite's workers.
const MARKER = `runyard-worker-test-${randomUUID().slice(0, 8)}`;

// The worker prints what it holds for its secret (split across two writes), the names of its
// environment variables and a hash of that value: a placeholder, never the secret (issue 10).
const ECHO = `
const v = process.env.API_TOKEN || '';
process.stdout.write('value: ' + v.slice(0, 9));
setTimeout(() => {
  process.stdout.write(v.slice(9) + ' end\\n');
  console.log('sha: ' + require('node:crypto').createHash('sha256').update(v).digest('hex'));
  console.error('keys: ' + Object.keys(process.env).sort().join(','));
  console.log('cwd: ' + process.cwd());
}, 100);
`.replace(/\n/g, ' ');

function bundle(revision = 1) {
  return sealBundle({
    metadata: {
      id: 'ws-1.agents',
      revision,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'test' },
    },
    profiles: [
      {
        selector: { kind: 'named', value: 'echoer' },
        worker: { kind: 'command', argv: ['node', '-e', ECHO, MARKER], cwd: 'agents' },
        grants: ['API_TOKEN'],
      },
      {
        selector: { kind: 'named', value: 'sleeper' },
        worker: { kind: 'command', argv: ['node', '-e', 'setInterval(() => {}, 1000)', MARKER] },
        grants: [],
      },
      {
        selector: { kind: 'named', value: 'crasher' },
        worker: { kind: 'command', argv: ['node', '-e', 'process.exit(3)', MARKER] },
        grants: [],
      },
      {
        selector: { kind: 'named', value: 'ghost-command' },
        worker: { kind: 'command', argv: [`runyard-no-such-command-${MARKER}`] },
        grants: [],
      },
      {
        selector: { kind: 'named', value: 'lost' },
        worker: { kind: 'command', argv: ['node', '-e', '', MARKER], cwd: 'missing-dir' },
        grants: [],
      },
      {
        selector: { kind: 'named', value: 'escaper' },
        worker: { kind: 'command', argv: ['node', '-e', '', MARKER], cwd: 'linked-out' },
        grants: [],
      },
    ],
    declarations: [{ kind: 'secret_ref', name: 'API_TOKEN', reference: 'secret:api_token' }],
  });
}

let dirs: Dirs;
let runtime: Runtime;
const events: RuntimeEvent[] = [];

beforeAll(async () => {
  dirs = dirsUnder(tempRoot('workers'));
  mkdirSync(join(dirs.workspaceRoot, 'agents'));
  runtime = await runtimeFor(dirs, {
    secrets: createEnvSecretResolver({ env: { RUNYARD_SECRET_API_TOKEN: SECRET } }),
  });
  runtime.subscribe((event) => events.push(event));
});

afterAll(async () => {
  await runtime?.close();
  removeRoot(dirs.root);
});

describe('config bundles', () => {
  it('stores, lists and checks bundles, and keeps them across a restart', async () => {
    const sealed = bundle();
    const stored = await runtime.storeBundle(sealed);
    expect(stored).toMatchObject({
      available: true,
      summary: { id: 'ws-1.agents', digest: sealed.metadata.digest, revision: 1 },
    });
    // Idempotent.
    expect((await runtime.storeBundle(sealed)).summary.digest).toBe(sealed.metadata.digest);
    expect((await runtime.listBundles()).map((b) => b.digest)).toEqual([sealed.metadata.digest]);
    const ref = { id: 'ws-1.agents', digest: sealed.metadata.digest };
    expect((await runtime.checkBundle(ref)).available).toBe(true);

    const missing = await runtime
      .checkBundle({ id: 'ws-1.other', digest: sealed.metadata.digest })
      .catch((e: unknown) => e);
    expect((missing as { code: string }).code).toBe('config_bundle_missing');
    const tampered = await runtime
      .storeBundle({ ...sealed, metadata: { ...sealed.metadata, revision: 2 } })
      .catch((e: unknown) => e);
    expect((tampered as { code: string }).code).toBe('config_bundle_digest_mismatch');

    // Its own data dir: one runtime process owns a data dir at a time.
    const ownDirs = dirsUnder(tempRoot('workers-restart'));
    try {
      const first = await runtimeFor(ownDirs);
      await first.storeBundle(sealed);
      await first.close();
      const second = await runtimeFor(ownDirs);
      try {
        expect((await second.checkBundle(ref)).summary.revision).toBe(1);
        expect(await second.listBundles()).toHaveLength(1);
      } finally {
        await second.close();
      }
    } finally {
      removeRoot(ownDirs.root);
    }
  });
});

describe('command workers', () => {
  it('gives the worker a placeholder for its secret, never the value, in no event either', async () => {
    const sealed = bundle();
    await runtime.storeBundle(sealed);
    const _stopped = (workerId: string) =>
      nextEvent(
        runtime,
        (e) =>
          e.type === 'worker_state' &&
          e.worker.workerId === workerId &&
          e.worker.state === 'stopped',
      );
    const worker = await runtime.createWorker({
      workerId: 'echo-1',
      profile: { kind: 'named', value: 'echoer' },
      configBundle: { id: sealed.metadata.id, digest: sealed.metadata.digest },
    });
    expect(WorkerInfoSchema.parse(worker)).toEqual(worker);
    expect(worker).toMatchObject({ workerId: 'echo-1', kind: 'command', mode: 'bundle' });
    await until(async () => (await runtime.getWorker('echo-1')).state === 'stopped');
    const done = await runtime.getWorker('echo-1');
    expect(done).toMatchObject({ state: 'stopped', exitCode: 0 });

    const outputs = events.filter(
      (e): e is Extract<RuntimeEvent, { type: 'worker_output' }> =>
        e.type === 'worker_output' && e.workerId === 'echo-1',
    );
    const stdout = outputs
      .filter((e) => e.stream === 'stdout')
      .map((e) => e.text)
      .join('');
    const stderr = outputs
      .filter((e) => e.stream === 'stderr')
      .map((e) => e.text)
      .join('');
    expect(stdout).toMatch(/value: runyard-ph-[0-9a-f]{32} end/);
    expect(stdout).not.toContain(`sha: ${createHash('sha256').update(SECRET).digest('hex')}`);
    expect(stdout).toContain(`cwd: ${join(dirs.workspaceRoot, 'agents')}`);
    // Only what the profile grants (the secret's placeholder and the egress proxy that swaps it
    // for the value, with the proxy CA to trust), plus PATH to find the program.
    expect(stderr.trim()).toBe(
      `keys: ${[
        'API_TOKEN',
        'CURL_CA_BUNDLE',
        'DENO_CERT',
        'GIT_SSL_CAINFO',
        'HTTPS_PROXY',
        'HTTP_PROXY',
        'NODE_EXTRA_CA_CERTS',
        'NO_PROXY',
        'PATH',
        'REQUESTS_CA_BUNDLE',
        'RUNYARD_WORKER_ID',
        'SSL_CERT_FILE',
        'http_proxy',
        'https_proxy',
        'no_proxy',
      ].join(',')}`,
    );
    // Not in any event, not even in pieces joined across events.
    const everything = JSON.stringify(events);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(SECRET.slice(9));
    expect(JSON.stringify(await runtime.listWorkers())).not.toContain(SECRET);
  });

  it('fails before starting when a secret cannot be resolved, naming no value', async () => {
    const lackingDirs = dirsUnder(tempRoot('workers-nosecret'));
    mkdirSync(join(lackingDirs.workspaceRoot, 'agents'));
    const lacking = await runtimeFor(lackingDirs, {
      secrets: createEnvSecretResolver({ env: {} }),
    });
    try {
      const sealed = bundle();
      await lacking.storeBundle(sealed);
      const error = await lacking
        .createWorker({
          profile: { kind: 'named', value: 'echoer' },
          configBundle: { id: sealed.metadata.id, digest: sealed.metadata.digest },
        })
        .catch((e: unknown) => e);
      expect((error as { code: string }).code).toBe('secret_unavailable');
      expect(await lacking.listWorkers()).toEqual([]);
      expect(JSON.stringify(error)).not.toContain(SECRET);
    } finally {
      await lacking.close();
      removeRoot(lackingDirs.root);
    }
  });

  it('refuses requests without the bundle, unknown profiles and a cwd outside the workspace', async () => {
    mkdirSync(join(dirs.root, 'elsewhere'), { recursive: true });
    symlinkSync(join(dirs.root, 'elsewhere'), join(dirs.workspaceRoot, 'linked-out'));
    const sealed = bundle();
    const ref = { id: sealed.metadata.id, digest: sealed.metadata.digest };
    const cases: [unknown, string][] = [
      [{ profile: { kind: 'named', value: 'echoer' } }, 'config_bundle_required'],
      [
        { profile: { kind: 'named', value: 'echoer' }, configBundle: { ...ref, id: 'ws-1.nope' } },
        'config_bundle_missing',
      ],
      [
        { profile: { kind: 'named', value: 'ghost' }, configBundle: ref },
        'invalid_profile_selector',
      ],
      [{ profile: { kind: 'named', value: 'lost' }, configBundle: ref }, 'invalid_request'],
      // A cwd inside the workspace by name but a symlink to elsewhere.
      [
        { profile: { kind: 'named', value: 'escaper' }, configBundle: ref },
        'path_outside_workspace',
      ],
      [{ profile: { kind: 'named', value: 'echoer' }, extra: 1 }, 'invalid_worker_request'],
    ];
    for (const [request, code] of cases) {
      const error = await runtime.createWorker(request).catch((e: unknown) => e);
      expect((error as { code: string }).code, code).toBe(code);
      expect((error as Error).message).not.toContain(dirs.root);
    }
    expect(await runtime.listWorkers()).not.toContainEqual(
      expect.objectContaining({ profile: { kind: 'named', value: 'escaper' } }),
    );
  });

  it('a worker that exits non-zero or whose program is missing is failed with a reason', async () => {
    const sealed = bundle();
    await runtime.storeBundle(sealed);
    const ref = { id: sealed.metadata.id, digest: sealed.metadata.digest };
    const crashed = await runtime.createWorker({
      profile: { kind: 'named', value: 'crasher' },
      configBundle: ref,
    });
    const missing = await runtime.createWorker({
      profile: { kind: 'named', value: 'ghost-command' },
      configBundle: ref,
    });
    const settled = async (workerId: string) => {
      await until(async () => {
        const { state } = await runtime.getWorker(workerId);
        return state === 'failed' || state === 'stopped';
      });
      return runtime.getWorker(workerId);
    };
    expect(WorkerInfoSchema.parse(await settled(crashed.workerId))).toMatchObject({
      state: 'failed',
      reason: 'exited with code 3',
      exitCode: 3,
    });
    expect(await settled(missing.workerId)).toMatchObject({
      state: 'failed',
      reason: 'command_not_found',
    });
    const failures = events.filter(
      (e) =>
        e.type === 'worker_state' &&
        e.worker.state === 'failed' &&
        [crashed.workerId, missing.workerId].includes(e.worker.workerId),
    );
    expect(failures).toHaveLength(2);
  });

  it('stops a long-running worker, and close() leaves no process behind', async () => {
    const sealed = bundle();
    const ref = { id: sealed.metadata.id, digest: sealed.metadata.digest };
    const first = await runtime.createWorker({
      workerId: 'sleep-1',
      profile: { kind: 'named', value: 'sleeper' },
      configBundle: ref,
    });
    await until(async () => (await runtime.getWorker(first.workerId)).state === 'running');
    const stopped = await runtime.stopWorker(first.workerId);
    expect(stopped.state).toBe('stopped');

    const otherDirs = dirsUnder(tempRoot('workers-close'));
    const other = await runtimeFor(otherDirs, {});
    await other.storeBundle(sealed);
    await other.createWorker({ profile: { kind: 'named', value: 'sleeper' }, configBundle: ref });
    await other.createWorker({ profile: { kind: 'named', value: 'sleeper' }, configBundle: ref });
    await until(() => processesMentioning(MARKER).length === 2);
    await other.close();
    removeRoot(otherDirs.root);
    expect(processesMentioning(MARKER)).toEqual([]);
    const missing = await runtime.getWorker('nope').catch((e: unknown) => e);
    expect((missing as { code: string }).code).toBe('worker_not_found');
  });
});

describe('kernel workers', () => {
  it('a builtin python-kernel profile gives a notebook-less kernel usable with execute', async () => {
    const worker = await runtime.createWorker({
      profile: { kind: 'builtin', value: 'python-kernel' },
    });
    expect(worker).toMatchObject({ kind: 'kernel', mode: 'builtin', state: 'running' });
    expect(worker.notebookId).toBeDefined();
    const notebookId = worker.notebookId as string;
    expect((await runtime.getNotebook(notebookId)).path).toBeNull();
    expect(plainResult(await runtime.execute(notebookId, { code: '6*7' }))).toBe('42');
    const stopped = await runtime.stopWorker(worker.workerId);
    expect(stopped.state).toBe('stopped');
    expect((await runtime.getNotebook(notebookId)).lifecycle).toBe('shutdown');
    expect(processesMentioning(dirs.root)).toEqual([]);
  });
});
