/**
 * Issue 10 §4 end to end: a real worker process (Python urllib, curl) in real bubblewrap, reaching
 * a real HTTPS upstream only through the egress proxy, holding only a placeholder.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { buildBwrapArgv, detectBubblewrap, proxyEnvironment } from './bwrap.js';
import { caEnvironment, installCaFiles, loadOrCreateProxyCa, type ProxyCa } from './ca.js';
import { createSecretPlaceholders } from './placeholders.js';
import { type EgressEvent, type EgressProxy, startEgressProxy } from './proxy.js';
import { createRedactor } from './redact.js';
import { createRedactingTransform } from './redact-transform.js';
import { type EchoServer, makeUpstreamPki, startHttpsEcho } from './test-support/upstream.js';

const PYTHON = '/usr/bin/python3';
const SECRET = 'ghp_Z9realSecretValue000111222333444555';
const detection = detectBubblewrap();
const sandboxed = detection.available;

const WORKER_PY = `
import json, os, sys, urllib.request, urllib.error
url = sys.argv[1]
req = urllib.request.Request(url, headers={'Authorization': 'token ' + os.environ['GITHUB_TOKEN']})
try:
    with urllib.request.urlopen(req, timeout=15) as r:
        print('STATUS', r.status)
        print('BODY', r.read().decode())
except urllib.error.HTTPError as e:
    print('HTTPERROR', e.code, e.headers.get('x-runyard-refusal'), e.read().decode())
except Exception as e:
    print('ERROR', type(e).__name__, e)
print('ENV', json.dumps(dict(os.environ), sort_keys=True))
`;

describe(`worker with a placeholder secret (${sandboxed ? 'inside bubblewrap' : `NOT sandboxed: ${detection.reason}`})`, () => {
  let root: string;
  let workspace: string;
  let runtimeDir: string;
  let dataDir: string;
  let upstream: EchoServer;
  let ca: ProxyCa;
  let caFiles: { certPath: string; bundlePath: string };
  let proxySocket: string;
  let upstreamCa: string;
  const placeholder = createSecretPlaceholders(['GITHUB_TOKEN']).GITHUB_TOKEN as string;
  const redactor = createRedactor({ secrets: { GITHUB_TOKEN: SECRET } });
  const proxies: EgressProxy[] = [];
  const events: EgressEvent[] = [];

  beforeAll(async () => {
    // Outside /tmp so the data dir is hidden by the hiding rule, not by the private /tmp.
    root = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'runyard-worker-'));
    workspace = join(root, 'ws');
    runtimeDir = join(root, 'run', 'w1');
    dataDir = join(root, 'data');
    for (const d of [workspace, runtimeDir, dataDir, join(root, 'proxy')])
      mkdirSync(d, { recursive: true });
    writeFileSync(join(workspace, 'worker.py'), WORKER_PY);
    const pki = makeUpstreamPki();
    upstreamCa = pki.caPem;
    upstream = await startHttpsEcho(pki);
    ca = loadOrCreateProxyCa(join(dataDir, 'proxy-ca'));
    caFiles = installCaFiles(ca, runtimeDir);
    proxySocket = join(root, 'proxy', 'w1.sock');
  });

  afterAll(async () => {
    for (const p of proxies) await p.close();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function startProxy(scrubResponses: boolean): Promise<EgressProxy> {
    for (const p of proxies.splice(0)) await p.close();
    const proxy = await startEgressProxy({
      grants: [
        {
          secret: 'GITHUB_TOKEN',
          value: SECRET,
          placeholder,
          destinations: [{ host: 'localhost', port: upstream.port, pathPrefix: '/api' }],
        },
      ],
      ca,
      listen: sandboxed ? { socketPath: proxySocket } : { host: '127.0.0.1', port: 0 },
      upstreamCa: [upstreamCa],
      scrubResponses,
      onEvent: (e) => events.push(e),
    });
    proxies.push(proxy);
    return proxy;
  }

  /** Runs a worker, returning its raw stdout and the stdout as it leaves the runtime. */
  async function runWorker(command: string[], proxy: EgressProxy) {
    const env: Record<string, string> = {
      PATH: '/usr/bin:/bin',
      HOME: workspace,
      GITHUB_TOKEN: placeholder,
      ...caEnvironment(caFiles),
    };
    const argv = sandboxed
      ? buildBwrapArgv({
          command,
          workspace,
          runtimeDir,
          network: 'proxy',
          proxySocket,
          hiddenPaths: [dataDir],
          env,
          bwrapPath: detection.path as string,
        })
      : command;
    const childEnv = sandboxed ? {} : { ...env, ...proxyEnvironment(proxy.url as string) };
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let raw = '';
    let redacted = '';
    child.stdout.on('data', (d: Buffer) => {
      raw += d.toString();
    });
    const redacting = child.stdout.pipe(createRedactingTransform(redactor));
    redacting.on('data', (d: Buffer) => {
      redacted += d.toString();
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((resolve) =>
      redacting.readableEnded ? resolve(null) : redacting.on('end', resolve),
    );
    return { code, raw, redacted, stderr: redactor.redact(stderr) };
  }

  it('python urllib gets through with the placeholder; the upstream sees the real secret; output and env show none', async () => {
    const proxy = await startProxy(true);
    const before = upstream.seen.length;
    const r = await runWorker(
      [PYTHON, join(workspace, 'worker.py'), `https://localhost:${upstream.port}/api/user`],
      proxy,
    );
    expect(r.redacted, r.stderr).toContain('STATUS 200');
    expect(upstream.seen.length).toBe(before + 1);
    expect(upstream.seen.at(-1)?.headers.authorization).toBe(`token ${SECRET}`);
    expect(r.raw).not.toContain(SECRET);
    expect(r.redacted).not.toContain(SECRET);
    expect(r.redacted).toContain('[REDACTED:GITHUB_TOKEN]');
    // os.environ inside the worker: the placeholder, never the secret.
    const envLine = r.redacted.split('\n').find((l) => l.startsWith('ENV ')) ?? '';
    const env = JSON.parse(envLine.slice(4)) as Record<string, string>;
    expect(env.GITHUB_TOKEN).toBe(placeholder);
    expect(envLine).not.toContain(SECRET);
    if (sandboxed) expect(env.HTTPS_PROXY).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });

  it('the stream redactor alone hides a secret the upstream echoes back', async () => {
    const proxy = await startProxy(false);
    const r = await runWorker(
      [PYTHON, join(workspace, 'worker.py'), `https://localhost:${upstream.port}/api/echo`],
      proxy,
    );
    expect(r.raw, r.stderr).toContain(SECRET);
    expect(r.redacted).not.toContain(SECRET);
    expect(r.redacted).toContain('token [REDACTED:GITHUB_TOKEN]');
  });

  it('curl through the proxy with the placeholder gets through', async () => {
    const proxy = await startProxy(true);
    const r = await runWorker(
      [
        '/usr/bin/curl',
        '-sS',
        '-H',
        `Authorization: Bearer ${placeholder}`,
        `https://localhost:${upstream.port}/api/curl`,
      ],
      proxy,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(upstream.seen.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(r.redacted).not.toContain(SECRET);
  });

  it('the same request to a non-granted host or path is refused', async () => {
    const proxy = await startProxy(true);
    const before = upstream.seen.length;
    const host = await runWorker(
      [PYTHON, join(workspace, 'worker.py'), `https://127.0.0.1:${upstream.port}/api/user`],
      proxy,
    );
    expect(host.redacted).toMatch(/ERROR .*403/);
    const path = await runWorker(
      [PYTHON, join(workspace, 'worker.py'), `https://localhost:${upstream.port}/admin`],
      proxy,
    );
    expect(path.redacted).toContain('HTTPERROR 403 placeholder_not_granted');
    expect(upstream.seen.length).toBe(before);
  });

  it('inside the sandbox, connecting to the upstream directly (bypassing the proxy) fails', async (ctx: TestContext) => {
    if (!sandboxed) ctx.skip(`needs bubblewrap: ${detection.reason ?? 'unavailable'}`);
    const proxy = await startProxy(true);
    const r = await runWorker(
      [
        PYTHON,
        '-c',
        `import socket\ntry:\n  socket.create_connection(('127.0.0.1', ${upstream.port}), timeout=5); print('CONNECTED')\nexcept OSError as e: print('REFUSED', e.errno)\nimport os\nprint('KEY', os.path.exists(${JSON.stringify(ca.keyPath)}))`,
      ],
      proxy,
    );
    expect(r.redacted, r.stderr).toContain('REFUSED');
    expect(r.redacted).not.toContain('CONNECTED');
    // The proxy CA key lives in the hidden data dir.
    expect(r.redacted).toContain('KEY False');
  });
});
