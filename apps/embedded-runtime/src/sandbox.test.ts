/**
 * Issue 10 as the runtime's behaviour: kernels and command workers in real bubblewrap, secrets by
 * placeholder through the per-worker egress proxy, one redactor on everything that leaves.
 * Runs as root on the project's machine; where bwrap cannot create a sandbox, the tests that need
 * it say so and skip only themselves.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvSecretResolver, sealBundle } from '@runyard/config-bundles';
import type { RuntimeEvent } from '@runyard/runtime-registry';
import { SandboxError } from '@runyard/sandbox';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { Runtime } from './runtime.js';
import { probeBubblewrap } from './sandboxing.js';
import {
  dirArgs,
  nextEvent,
  plainResult,
  processesMentioning,
  runtimeFor,
  spawnCli,
  until,
} from './test-support/helpers.js';
import { type EchoServer, makeUpstreamPki, startHttpsEcho } from './test-support/upstream.js';

const detection = probeBubblewrap(undefined, process.env);
const canSandbox = detection.available;
const SKIP_REASON = `needs a working bubblewrap: ${detection.reason ?? 'unavailable'}`;
// Looks like a GitHub token, so the pattern redactor would catch it too; the value is what the
// upstream must see and nothing else may.
const SECRET = `ghp_${'Z9sandboxRealValue'}${Date.now().toString(36)}XYZ0123456789`;

// Outside /tmp: the sandbox's private /tmp would hide these dirs anyway, and the point is to
// prove the runtime's own hiding rules.
function makeRoot(label: string): string {
  return mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), `runyard-sbx-${label}-`));
}

function dirsIn(root: string) {
  const dirs = {
    root,
    dataDir: join(root, 'data'),
    cacheDir: join(root, 'cache'),
    configDir: join(root, 'config'),
    workspaceRoot: join(root, 'ws'),
    home: join(root, 'home'),
    outside: join(root, 'outside'),
    shared: join(root, 'shared'),
  };
  for (const dir of [dirs.workspaceRoot, dirs.home, dirs.outside, dirs.shared])
    mkdirSync(dir, { recursive: true });
  return dirs;
}

describe('sandbox mode at startup', () => {
  it('required without a working bwrap is a typed startup error, never a downgrade', async () => {
    const root = makeRoot('required');
    try {
      const dirs = dirsIn(root);
      const error = await runtimeFor(dirs, {
        sandbox: 'required',
        bwrapPath: join(root, 'no-such-bwrap'),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxError);
      expect((error as SandboxError).code).toBe('sandbox_unavailable');
      expect((error as SandboxError).message).not.toContain(root);
      // Nothing was opened: no database, no trust key.
      expect(existsSync(join(dirs.dataDir, 'runyard.db'))).toBe(false);
      expect(existsSync(join(dirs.configDir, 'trust-key'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('runyard-runtime serve --sandbox required without bwrap fails to start with the code', async () => {
    const root = makeRoot('cli');
    try {
      const dirs = dirsIn(root);
      const proc = spawnCli([
        'serve',
        '--token',
        'test-token-0123456789',
        ...dirArgs(dirs),
        '--sandbox',
        'required',
        '--bwrap',
        join(root, 'no-such-bwrap'),
      ]);
      let stderr = '';
      proc.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toContain('failed to start (sandbox_unavailable)');
      expect(stderr).not.toContain(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('auto without a working bwrap runs unsandboxed and says so (describe, log)', async () => {
    const root = makeRoot('auto');
    const logs: string[] = [];
    const runtime = await runtimeFor(dirsIn(root), {
      sandbox: 'auto',
      bwrapPath: join(root, 'no-such-bwrap'),
      onLog: (line) => logs.push(line),
    });
    try {
      expect(runtime.sandbox).toMatchObject({ mode: 'auto', effective: 'off' });
      const described = await runtime.describe();
      expect(described.capabilities).toContain('sandbox:off');
      expect(described.health.details).toContain('Sandbox: running unsandboxed');
      expect(logs.some((line) => line.startsWith('sandbox: running unsandboxed'))).toBe(true);
    } finally {
      await runtime.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

const PROBE_PY = `
import json, os, socket
cfg = json.load(open('probe-config.json'))
config_dir, data_dir, outside, shared, port = (cfg[k] for k in ('config', 'data', 'outside', 'shared', 'port'))
result = {}
def attempt(name, fn):
    try:
        fn()
        result[name] = 'ok'
    except Exception as e:
        result[name] = type(e).__name__
attempt('read_trust_key', lambda: open(os.path.join(config_dir, 'trust-key'), 'rb').read())
attempt('read_db', lambda: open(os.path.join(data_dir, 'runyard.db'), 'rb').read())
# The data dir is an empty tmpfs inside, except the mount points of what this worker may use.
result['data_dir_listing'] = sorted(os.listdir(data_dir))
result['sees_proxy_ca'] = os.path.exists(os.path.join(data_dir, 'proxy-ca'))
attempt('write_workspace', lambda: open('probe-wrote-here.txt', 'w').write('x'))
attempt('write_outside', lambda: open(os.path.join(outside, 'escaped.txt'), 'w').write('x'))
attempt('write_etc', lambda: open('/etc/runyard-escaped', 'w').write('x'))
attempt('write_shared', lambda: open(os.path.join(shared, 'shared.txt'), 'w').write('x'))
def connect(host, p):
    s = socket.create_connection((host, int(p)), timeout=3)
    s.close()
attempt('direct_loopback', lambda: connect('127.0.0.1', port))
attempt('direct_outside', lambda: connect('1.1.1.1', 443))
print('PROBE ' + json.dumps(result, sort_keys=True))
print('ENV ' + json.dumps(dict(os.environ), sort_keys=True))
`;

const URLLIB_PY = `
import os, sys, urllib.request, urllib.error
def get(url):
    req = urllib.request.Request(url, headers={'Authorization': 'token ' + os.environ['GH_TOKEN']})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            print('STATUS', r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        print('HTTPERROR', e.code, e.headers.get('x-runyard-refusal'))
    except Exception as e:
        print('ERROR', type(e).__name__, getattr(e, 'reason', ''))
for url in open('urls.txt').read().split():
    get(url)
print('TOKEN-IN-ENV', os.environ['GH_TOKEN'])
`;

describe(`sandboxed runtime (${canSandbox ? `bubblewrap ${detection.version ?? ''}` : `SKIPPED: ${SKIP_REASON}`})`, () => {
  let dirs: ReturnType<typeof dirsIn>;
  let runtime: Runtime;
  let upstream: EchoServer;
  let plainServer: Server;
  let plainPort: number;
  let bundle: ReturnType<typeof sealBundle>;
  const events: RuntimeEvent[] = [];
  const logs: string[] = [];

  function workerOutput(workerId: string): string {
    return events
      .filter(
        (e): e is Extract<RuntimeEvent, { type: 'worker_output' }> =>
          e.type === 'worker_output' && e.workerId === workerId,
      )
      .map((e) => e.text)
      .join('');
  }

  async function runWorker(profile: string, workerId: string): Promise<string> {
    const info = await runtime.createWorker({
      workerId,
      profile: { kind: 'named', value: profile },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    });
    expect(info.state).not.toBe('failed');
    await until(async () => {
      const state = (await runtime.getWorker(workerId)).state;
      return state === 'stopped' || state === 'failed';
    }, 30_000);
    return workerOutput(workerId);
  }

  beforeAll(async () => {
    if (!canSandbox) return;
    dirs = dirsIn(makeRoot('runtime'));
    writeFileSync(join(dirs.workspaceRoot, 'probe.py'), PROBE_PY);
    writeFileSync(join(dirs.workspaceRoot, 'fetch.py'), URLLIB_PY);
    const pki = makeUpstreamPki();
    upstream = await startHttpsEcho(pki);
    // A plain TCP server the host reaches on 127.0.0.1: the sandbox must not.
    plainServer = createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => plainServer.listen(0, '127.0.0.1', resolve));
    plainPort = (plainServer.address() as { port: number }).port;
    const api = `https://127.0.0.1:${upstream.port}`;
    // Bundles refuse absolute paths in argv: workers read the host's specifics from files.
    writeFileSync(
      join(dirs.workspaceRoot, 'probe-config.json'),
      JSON.stringify({
        config: dirs.configDir,
        data: dirs.dataDir,
        outside: dirs.outside,
        shared: dirs.shared,
        port: plainPort,
      }),
    );
    writeFileSync(
      join(dirs.workspaceRoot, 'urls.txt'),
      `${api}/api/user\nhttps://localhost:${upstream.port}/api/user\n`,
    );
    const curl = [
      // Granted: header and query carry the placeholder, the proxy swaps in the value.
      `curl -sS -H "Authorization: token $GH_TOKEN" "${api}/api/repos?key=$GH_TOKEN"; echo`,
      // Same host, path outside the grant: the placeholder is refused there.
      `curl -sS -o /dev/null -w "other-path %{http_code}\\n" -H "Authorization: token $GH_TOKEN" "${api}/admin"`,
      // Another host (same port): not granted at all, the CONNECT is refused.
      `curl -sS -o /dev/null -w "other-host %{http_connect}\\n" -H "Authorization: token $GH_TOKEN" "https://localhost:${upstream.port}/api/repos" 2>/dev/null; echo "curl-exit $?"`,
      'echo "token-in-env $GH_TOKEN"',
    ].join('\n');
    writeFileSync(join(dirs.workspaceRoot, 'fetch.sh'), `${curl}\n`);
    bundle = sealBundle({
      metadata: {
        id: 'ws-1.sandboxed',
        revision: 1,
        workspaceId: 'ws-1',
        createdAt: '2025-01-02T03:04:05Z',
        provenance: { source: 'test' },
      },
      profiles: [
        {
          selector: { kind: 'named', value: 'prober' },
          worker: {
            kind: 'command',
            argv: ['python3', 'probe.py'],
          },
          grants: ['GH_TOKEN', 'API'],
        },
        {
          selector: { kind: 'named', value: 'mounted-prober' },
          worker: {
            kind: 'command',
            argv: ['python3', 'probe.py'],
          },
          grants: ['SHARED'],
        },
        {
          selector: { kind: 'named', value: 'curler' },
          worker: { kind: 'command', argv: ['sh', 'fetch.sh'] },
          grants: ['GH_TOKEN', 'API'],
        },
        {
          selector: { kind: 'named', value: 'urllib' },
          worker: {
            kind: 'command',
            argv: ['python3', 'fetch.py'],
          },
          grants: ['GH_TOKEN', 'API'],
        },
        {
          selector: { kind: 'named', value: 'sleeper' },
          worker: { kind: 'command', argv: ['sleep', '600'] },
          grants: ['GH_TOKEN', 'API'],
        },
        {
          selector: { kind: 'named', value: 'ghost' },
          worker: { kind: 'command', argv: ['no-such-program-runyard'] },
          grants: ['GH_TOKEN', 'API'],
        },
        {
          selector: { kind: 'named', value: 'unknown-network' },
          worker: { kind: 'command', argv: ['true'] },
          grants: ['ELSEWHERE'],
        },
      ],
      declarations: [
        { kind: 'secret_ref', name: 'GH_TOKEN', reference: 'secret:gh_token' },
        { kind: 'network_policy', name: 'API', reference: 'network:echo-api' },
        { kind: 'network_policy', name: 'ELSEWHERE', reference: 'network:not-defined-here' },
        { kind: 'mount_grant', name: 'SHARED', reference: 'mount:shared' },
      ],
    });
    runtime = await runtimeFor(dirs, {
      sandbox: 'required',
      // The secret is in the host's environment too: kernels must not inherit it.
      // PATH: the workers' `python3` is Debian's (never PATH luck).
      env: {
        ...process.env,
        PATH: '/usr/bin:/bin',
        HOME: dirs.home,
        RUNYARD_SECRET_GH_TOKEN: SECRET,
      },
      secrets: createEnvSecretResolver({ env: { RUNYARD_SECRET_GH_TOKEN: SECRET } }),
      grants: {
        network: {
          'echo-api': {
            destinations: [{ host: '127.0.0.1', port: upstream.port, pathPrefix: '/api' }],
            secrets: ['secret:gh_token'],
          },
        },
        mounts: { shared: { path: dirs.shared } },
      },
      egress: { upstreamCa: [pki.caPem] },
      onLog: (line) => logs.push(line),
    });
    runtime.subscribe((event) => events.push(event));
    await runtime.storeBundle(bundle);
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await upstream?.close();
    await new Promise((resolve) => (plainServer ? plainServer.close(resolve) : resolve(undefined)));
    if (dirs) {
      // Nothing the runtime started outlives it.
      expect(processesMentioning(dirs.root)).toEqual([]);
      rmSync(dirs.root, { recursive: true, force: true });
    }
  });

  it('reports the effective mode', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    expect(runtime.sandbox).toMatchObject({ mode: 'required', effective: 'bwrap' });
    const described = await runtime.describe();
    expect(described.capabilities).toContain('sandbox:bwrap');
    expect(described.capabilities).not.toContain('deno');
  });

  it('a command worker cannot read the trust key, write outside the workspace or connect out', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    // The files are there and readable for the host: the sandbox is what stops the worker.
    expect(readFileSync(join(dirs.configDir, 'trust-key')).length).toBeGreaterThan(0);
    expect(existsSync(join(dirs.dataDir, 'runyard.db'))).toBe(true);
    const out = await runWorker('prober', 'probe-1');
    const probe = JSON.parse(/PROBE (.*)/.exec(out)?.[1] ?? '{}') as Record<string, unknown>;
    expect(probe).toEqual({
      read_trust_key: 'FileNotFoundError',
      read_db: 'FileNotFoundError',
      data_dir_listing: ['egress'],
      sees_proxy_ca: false,
      write_workspace: 'ok',
      write_outside: 'OSError',
      write_etc: 'OSError',
      write_shared: 'OSError',
      direct_loopback: 'ConnectionRefusedError',
      direct_outside: 'OSError',
    });
    expect(existsSync(join(dirs.workspaceRoot, 'probe-wrote-here.txt'))).toBe(true);
    expect(existsSync(join(dirs.outside, 'escaped.txt'))).toBe(false);
    expect(existsSync('/etc/runyard-escaped')).toBe(false);
    // Its environment: only what the profile grants, the secret as a placeholder.
    const env = JSON.parse(/ENV (.*)/.exec(out)?.[1] ?? '{}') as Record<string, string>;
    expect(env.GH_TOKEN).toMatch(/^runyard-ph-[0-9a-f]{32}$/);
    expect(env.HTTPS_PROXY).toBe('http://127.0.0.1:3128');
    // The proxy CA is trusted through the usual variables; its files sit in the worker's
    // read-only egress dir (the CA key is not there: `sees_proxy_ca` above).
    for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS'])
      expect(env[name]?.startsWith(join(dirs.dataDir, 'egress'))).toBe(true);
    expect(JSON.stringify(env)).not.toContain(SECRET);
  });

  it('with a mount grant, only the granted mount is writable', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const out = await runWorker('mounted-prober', 'probe-mounted');
    const probe = JSON.parse(/PROBE (.*)/.exec(out)?.[1] ?? '{}') as Record<string, unknown>;
    expect(probe).toMatchObject({
      read_trust_key: 'FileNotFoundError',
      write_workspace: 'OSError',
      write_shared: 'ok',
      write_outside: 'OSError',
      // No network grant: no proxy, no network at all.
      direct_loopback: 'ConnectionRefusedError',
    });
    expect(existsSync(join(dirs.shared, 'shared.txt'))).toBe(true);
    const env = JSON.parse(/ENV (.*)/.exec(out)?.[1] ?? '{}') as Record<string, string>;
    expect(env.HTTPS_PROXY).toBeUndefined();
  });

  it('curl with the placeholder reaches the granted upstream, which sees the real secret', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const before = upstream.seen.length;
    const out = await runWorker('curler', 'curl-1');
    const seen = upstream.seen.slice(before);
    // Only the granted request arrived, carrying the real value in the header and the query.
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.authorization).toBe(`token ${SECRET}`);
    expect(seen[0]?.url).toBe(`/api/repos?key=${SECRET}`);
    // The echo came back scrubbed; the worker itself only ever held the placeholder.
    expect(out).toContain('[REDACTED:GH_TOKEN]');
    expect(out).toMatch(/token-in-env runyard-ph-[0-9a-f]{32}/);
    expect(out).toContain('other-path 403');
    expect(out).toContain('other-host 403');
    expect(out).toMatch(/curl-exit [1-9]/);
    expect(out).not.toContain(SECRET);
    // Nothing that left the runtime carries the value.
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect(logs.join('\n')).not.toContain(SECRET);
    expect(logs.join('\n')).toContain('placeholder_not_granted');
    expect(logs.join('\n')).toContain('destination_not_granted');
    expect(JSON.stringify(await runtime.listWorkers())).not.toContain(SECRET);
  });

  it('Python urllib through the proxy: granted host gets through, another host is refused with 403', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const before = upstream.seen.length;
    const out = await runWorker('urllib', 'urllib-1');
    const seen = upstream.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.authorization).toBe(`token ${SECRET}`);
    expect(out).toMatch(/STATUS 200 .*\[REDACTED:GH_TOKEN\]/);
    // urllib reports a refused CONNECT as a URLError wrapping "Tunnel connection failed: 403".
    expect(out).toMatch(/ERROR URLError Tunnel connection failed: 403/);
    expect(out).toMatch(/TOKEN-IN-ENV runyard-ph-[0-9a-f]{32}/);
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });

  it('stopping a sandboxed worker stops the sandbox and its egress proxy', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    await runtime.createWorker({
      workerId: 'sleeper-1',
      profile: { kind: 'named', value: 'sleeper' },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    });
    await until(async () => (await runtime.getWorker('sleeper-1')).state === 'running');
    const egressDir = join(dirs.dataDir, 'egress');
    await until(() => processesMentioning('sleeper-1').length > 0);
    expect(readdirSync(egressDir)).toHaveLength(1);
    const stopped = await runtime.stopWorker('sleeper-1');
    expect(stopped.state).toBe('stopped');
    // bwrap, the forwarder and the command are gone, and so is the proxy with its socket.
    await until(() => processesMentioning('sleeper-1').length === 0);
    await until(() => readdirSync(egressDir).length === 0);
  });

  it('a sandboxed command that does not exist fails as command_not_found, its proxy stopped', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const info = await runtime.createWorker({
      workerId: 'ghost-1',
      profile: { kind: 'named', value: 'ghost' },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    });
    expect(info).toMatchObject({ state: 'failed', reason: 'command_not_found' });
    await until(() => readdirSync(join(dirs.dataDir, 'egress')).length === 0);
  });

  it('a profile granting a network policy this host does not define fails closed', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const error = await runtime
      .createWorker({
        profile: { kind: 'named', value: 'unknown-network' },
        configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
      })
      .catch((e: unknown) => e);
    expect((error as SandboxError).code).toBe('grant_unresolved');
    expect((await runtime.listWorkers()).map((w) => w.profile.value)).not.toContain(
      'unknown-network',
    );
  });

  it('kernels run confined: no secret in os.environ, no trust key, no writes outside, no network', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const worker = await runtime.createWorker({
      profile: { kind: 'builtin', value: 'python-kernel' },
    });
    expect(worker.state).toBe('running');
    const notebookId = worker.notebookId as string;
    // Another env in the cache (the host sees it): the kernel must not.
    mkdirSync(join(dirs.cacheDir, 'envs', 'other-env'), { recursive: true });
    writeFileSync(join(dirs.cacheDir, 'envs', 'other-env', 'pyvenv.cfg'), 'home = x\n');
    const code = `
import json, os, socket
result = {'env': dict(os.environ)}
def attempt(name, fn):
    try:
        fn()
        result[name] = 'ok'
    except Exception as e:
        result[name] = type(e).__name__
attempt('read_trust_key', lambda: open(${JSON.stringify(join(dirs.configDir, 'trust-key'))}, 'rb').read())
import sys
result['sees_other_env'] = os.path.exists(${JSON.stringify(join(dirs.cacheDir, 'envs', 'other-env', 'pyvenv.cfg'))})
result['sees_own_env'] = os.path.exists(os.path.join(sys.prefix, 'pyvenv.cfg'))
attempt('write_own_env', lambda: open(os.path.join(sys.prefix, 'written.txt'), 'w').write('x'))
attempt('write_outside', lambda: open(${JSON.stringify(join(dirs.outside, 'kernel.txt'))}, 'w').write('x'))
attempt('write_workspace', lambda: open('kernel-wrote-here.txt', 'w').write('x'))
attempt('connect', lambda: socket.create_connection(('127.0.0.1', ${plainPort}), timeout=3))
print(json.dumps(result, sort_keys=True))
print(os.environ)
`;
    const result = await runtime.execute(notebookId, { code });
    const text = result.outputs
      .map((o) => ((o as { text?: string }).text ? (o as { text: string }).text : ''))
      .join('');
    const parsed = JSON.parse(text.split('\n')[0] ?? '{}') as Record<string, unknown>;
    expect(parsed).toMatchObject({
      read_trust_key: 'FileNotFoundError',
      sees_other_env: false,
      sees_own_env: true,
      write_own_env: 'OSError',
      write_outside: 'OSError',
      write_workspace: 'ok',
      connect: 'ConnectionRefusedError',
    });
    const env = parsed.env as Record<string, string>;
    expect(Object.keys(env).some((name) => name.startsWith('RUNYARD_SECRET_'))).toBe(false);
    expect(text).not.toContain(SECRET);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    // The kernel process is a bubblewrap sandbox.
    const pids = processesMentioning(join(dirs.dataDir, 'kernels'));
    const cmdlines = pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    expect(cmdlines.some((line) => line.startsWith(`${detection.path}\0`))).toBe(true);
    await runtime.stopWorker(worker.workerId);
  });

  it('a notebook kernel runs in the sandbox too, and interrupt still works', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const nb = await runtime.createNotebook({ path: 'analysis.ipynb' });
    expect(nb.lifecycle).toBe('idle');
    const environ = await runtime.execute(nb.notebookId, {
      code: `import os; print(sorted(os.environ)); print(open(${JSON.stringify(join(dirs.configDir, 'trust-key'))}).read() if os.path.exists(${JSON.stringify(join(dirs.configDir, 'trust-key'))}) else 'no-trust-key')`,
    });
    const text = JSON.stringify(environ.outputs);
    expect(text).toContain('no-trust-key');
    expect(text).not.toContain('RUNYARD_SECRET_');
    expect(text).not.toContain(SECRET);
    const running = runtime.execute(nb.notebookId, { code: 'import time; time.sleep(60)' });
    await until(async () => (await runtime.getNotebook(nb.notebookId)).lifecycle === 'busy');
    await runtime.interrupt(nb.notebookId);
    const interrupted = await running;
    expect(JSON.stringify(interrupted.outputs)).toContain('KeyboardInterrupt');
    await runtime.shutdown(nb.notebookId);
  });

  it('a sandboxed kernel that dies is reported and restarted', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const nb = await runtime.createNotebook({ path: 'doomed.ipynb' });
    expect(nb.lifecycle).toBe('idle');
    // The kernel's host pid (os.getpid() inside is the pid namespace's): the python process
    // whose command line names its connection file, not the bwrap launcher.
    const kernelPids = () =>
      processesMentioning(join(dirs.dataDir, 'kernels')).filter(
        (pid) => !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`${detection.path}\0`),
      );
    const before = new Set(kernelPids());
    const died = nextEvent(
      runtime,
      (e) =>
        e.type === 'lifecycle' && e.notebookId === nb.notebookId && e.info.lifecycle === 'error',
    );
    const result = runtime.execute(nb.notebookId, { code: 'import time; time.sleep(30)' });
    const doomed = kernelPids().filter((pid) => before.has(pid));
    expect(doomed.length).toBeGreaterThan(0);
    for (const pid of doomed) process.kill(pid, 'SIGKILL');
    await result.catch(() => undefined);
    const error = (await died) as Extract<RuntimeEvent, { type: 'lifecycle' }>;
    expect(error.info.error?.reason).toBe('kernel_died');
    await until(async () => (await runtime.getNotebook(nb.notebookId)).lifecycle === 'idle');
    expect(plainResult(await runtime.execute(nb.notebookId, { code: '6*7' }))).toBe('42');
    await runtime.shutdown(nb.notebookId);
  });
});

describe('sandbox off: secrets stay placeholders, and every output passes the one redactor', () => {
  let dirs: ReturnType<typeof dirsIn>;
  let runtime: Runtime;
  let upstream: EchoServer;
  let bundle: ReturnType<typeof sealBundle>;
  const events: RuntimeEvent[] = [];
  const OTHER_TOKEN = `ghp_${'neverKnownToTheRuntime'}0123456789abcdef`;

  const LEAKER = `
const fs = require('node:fs');
const { execFile } = require('node:child_process');
// Learnt some other way (a file in the workspace): printed split across two writes.
const value = fs.readFileSync('leak.txt', 'utf8').trim();
process.stdout.write('leaked: ' + value.slice(0, 11));
setTimeout(() => {
  process.stdout.write(value.slice(11) + ' and ' + ${JSON.stringify(OTHER_TOKEN)} + '\\n');
  const url = fs.readFileSync('url.txt', 'utf8').trim();
  // Node's own https ignores HTTPS_PROXY; curl honours it (and the proxy CA it is given).
  execFile('curl', ['-sS', '-H', 'authorization: token ' + process.env.GH_TOKEN, url], (e, out) =>
    console.log(e ? 'error ' + e.message : 'response ' + out),
  );
}, 200);
`;

  beforeAll(async () => {
    dirs = dirsIn(makeRoot('off'));
    const pki = makeUpstreamPki();
    upstream = await startHttpsEcho(pki);
    writeFileSync(join(dirs.workspaceRoot, 'leak.txt'), `${SECRET}\n`);
    writeFileSync(join(dirs.workspaceRoot, 'leaker.js'), LEAKER);
    writeFileSync(
      join(dirs.workspaceRoot, 'url.txt'),
      `https://127.0.0.1:${upstream.port}/api/user\n`,
    );
    bundle = sealBundle({
      metadata: {
        id: 'ws-1.off',
        revision: 1,
        workspaceId: 'ws-1',
        createdAt: '2025-01-02T03:04:05Z',
        provenance: { source: 'test' },
      },
      profiles: [
        {
          selector: { kind: 'named', value: 'leaker' },
          worker: { kind: 'command', argv: ['node', 'leaker.js'] },
          grants: ['GH_TOKEN', 'API'],
        },
      ],
      declarations: [
        { kind: 'secret_ref', name: 'GH_TOKEN', reference: 'secret:gh_token' },
        { kind: 'network_policy', name: 'API', reference: 'network:echo-api' },
      ],
    });
    runtime = await runtimeFor(dirs, {
      sandbox: 'off',
      // In the host's environment: kernels must not inherit it even unsandboxed.
      env: { ...process.env, HOME: dirs.home, RUNYARD_SECRET_GH_TOKEN: SECRET },
      secrets: createEnvSecretResolver({ env: { RUNYARD_SECRET_GH_TOKEN: SECRET } }),
      grants: {
        network: {
          'echo-api': {
            destinations: [{ host: '127.0.0.1', port: upstream.port, pathPrefix: '/api' }],
            secrets: ['secret:gh_token'],
          },
        },
      },
      egress: { upstreamCa: [pki.caPem] },
    });
    runtime.subscribe((event) => events.push(event));
    await runtime.storeBundle(bundle);
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await upstream?.close();
    if (dirs) {
      expect(processesMentioning(dirs.root)).toEqual([]);
      rmSync(dirs.root, { recursive: true, force: true });
    }
  });

  it('reports sandbox:off, and the worker uses its placeholder through the proxy on 127.0.0.1', async () => {
    expect(runtime.sandbox).toEqual({ mode: 'off', effective: 'off' });
    expect((await runtime.describe()).capabilities).toContain('sandbox:off');
    await runtime.createWorker({
      workerId: 'leaker-1',
      profile: { kind: 'named', value: 'leaker' },
      configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    });
    await until(async () => (await runtime.getWorker('leaker-1')).state === 'stopped', 30_000);
    expect(upstream.seen.at(-1)?.headers.authorization).toBe(`token ${SECRET}`);
    const pieces = events
      .filter(
        (e): e is Extract<RuntimeEvent, { type: 'worker_output' }> =>
          e.type === 'worker_output' && e.workerId === 'leaker-1',
      )
      .map((e) => e.text);
    const out = pieces.join('');
    // The value split across writes is caught whole; the unknown token by its shape.
    expect(out).toContain('leaked: [REDACTED:GH_TOKEN] and [REDACTED:github_token]');
    expect(out).toMatch(/response .*token \[REDACTED:GH_TOKEN\]/);
    for (const piece of pieces) {
      expect(piece).not.toContain(SECRET.slice(0, 11));
      expect(piece).not.toContain(SECRET.slice(11));
    }
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect(JSON.stringify(events)).not.toContain(OTHER_TOKEN);
  });

  it('kernel outputs, results and events are redacted by the same redactor', async () => {
    const nb = await runtime.createNotebook({ path: 'leak.ipynb' });
    expect(nb.lifecycle).toBe('idle');
    const result = await runtime.execute(nb.notebookId, {
      code: `print(open('leak.txt').read().strip())\nprint(${JSON.stringify(OTHER_TOKEN)})\nopen('leak.txt').read().strip()`,
    });
    const text = JSON.stringify(result.outputs);
    expect(text).toContain('[REDACTED:GH_TOKEN]');
    expect(text).toContain('[REDACTED:github_token]');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(OTHER_TOKEN);
    const outputs = JSON.stringify(events.filter((e) => e.type === 'output'));
    expect(outputs).toContain('[REDACTED:GH_TOKEN]');
    expect(outputs).not.toContain(SECRET);
    const names = await runtime.execute(nb.notebookId, {
      code: "import os; sorted(n for n in os.environ if n.startswith('RUNYARD_'))",
    });
    expect(plainResult(names)).toBe('[]');
    await runtime.shutdown(nb.notebookId);
  });
});
