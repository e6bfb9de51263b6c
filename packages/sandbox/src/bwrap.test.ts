import { execFile, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import {
  type BwrapSpec,
  buildBwrapArgv,
  detectBubblewrap,
  FORWARDER_SOURCE,
  resolveSandboxMode,
} from './bwrap.js';
import { SandboxError } from './errors.js';

const detection = detectBubblewrap();

/** Skips (with the reason) only the tests that need a working bwrap when this host has none. */
function needBwrap(ctx: TestContext): string {
  if (!detection.available || !detection.path) {
    ctx.skip(`bubblewrap unusable on this machine: ${detection.reason ?? 'unknown'}`);
  }
  return detection.path as string;
}

function runIn(spec: Omit<BwrapSpec, 'bwrapPath'>, bwrap: string) {
  const [file, ...args] = buildBwrapArgv({ ...spec, bwrapPath: bwrap });
  const result = spawnSync(file as string, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const sh = (script: string) => ['/bin/sh', '-c', script];

describe('detectBubblewrap and resolveSandboxMode', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'runyard-bwrap-detect-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports bwrap missing from PATH', () => {
    const d = detectBubblewrap({ env: { PATH: dir } });
    expect(d).toEqual({ available: false, reason: 'bwrap not found on PATH' });
  });

  it('reports a bwrap that exists but cannot create namespaces', () => {
    // Behaves like bwrap in a container without user namespaces: --version works, sandboxes fail.
    const fake = join(dir, 'bwrap');
    writeFileSync(
      fake,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo "bubblewrap 0.8.0"; exit 0; fi\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const d = detectBubblewrap({ env: { PATH: `${dir}:/usr/bin:/bin` } });
    expect(d.available).toBe(false);
    expect(d.path).toBe(fake);
    expect(d.version).toBe('0.8.0');
    expect(d.reason).toContain('No permissions to create new namespace');
    expect(() => resolveSandboxMode('required', d)).toThrowError(
      expect.objectContaining({ code: 'sandbox_unavailable' }),
    );
    expect(resolveSandboxMode('auto', d)).toEqual({
      sandboxed: false,
      notice: expect.stringContaining('running unsandboxed'),
    });
    expect(resolveSandboxMode('off', d)).toEqual({ sandboxed: false });
  });

  it('never downgrades required, and uses bwrap when it works', () => {
    const ok = { available: true, path: '/usr/bin/bwrap', version: '0.8.0' };
    expect(resolveSandboxMode('required', ok)).toEqual({
      sandboxed: true,
      bwrapPath: '/usr/bin/bwrap',
    });
    expect(resolveSandboxMode('auto', ok)).toEqual({
      sandboxed: true,
      bwrapPath: '/usr/bin/bwrap',
    });
    expect(resolveSandboxMode('off', ok)).toEqual({ sandboxed: false });
    let caught: unknown;
    try {
      resolveSandboxMode('required', { available: false });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SandboxError);
  });

  it('finds a working bwrap on this machine (or says why not)', (ctx) => {
    needBwrap(ctx);
    expect(detection).toMatchObject({ available: true, path: expect.stringMatching(/bwrap$/) });
  });
});

describe('buildBwrapArgv', () => {
  const kinds: Record<string, 'dir' | 'file'> = {
    '/data/runyard': 'dir',
    '/cache/runyard': 'dir',
    '/config/runyard/trust.key': 'file',
    '/ws/proj/.secret': 'dir',
  };
  const pathKind = (p: string) => (p === '/run' ? 'dir' : (kinds[p] ?? 'missing'));

  it('builds a read-only system, private /tmp, binds, hides, and a clean env', () => {
    const argv = buildBwrapArgv({
      command: ['python3', '-c', 'print(1)'],
      workspace: '/ws/proj',
      envPrefix: '/cache/runyard/envs/abc',
      runtimeDir: '/run/runyard/w1',
      network: 'none',
      hiddenPaths: [
        '/cache/runyard',
        '/data/runyard',
        '/config/runyard/trust.key',
        '/ws/proj/.secret',
        '/nope',
      ],
      env: { FOO: 'bar' },
      pathKind,
    });
    const joined = argv.join(' ');
    expect(argv.slice(0, 10)).toEqual([
      'bwrap',
      '--ro-bind',
      '/',
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
    ]);
    expect(joined).toContain('--cap-drop ALL');
    expect(argv.slice(10, 12)).toEqual(['--tmpfs', '/run']);
    for (const flag of ['--unshare-all', '--die-with-parent', '--new-session', '--clearenv']) {
      expect(argv).toContain(flag);
    }
    expect(joined).toContain('--tmpfs /cache/runyard');
    expect(joined).toContain('--ro-bind /dev/null /config/runyard/trust.key');
    expect(joined).toContain('--bind /ws/proj /ws/proj');
    expect(joined).toContain('--bind /run/runyard/w1 /run/runyard/w1');
    expect(joined).not.toContain('/nope');
    // Most specific wins: the env prefix is mounted after its hidden cache dir, the hidden dir
    // inside the workspace after the workspace.
    expect(argv.indexOf('/cache/runyard/envs/abc')).toBeGreaterThan(argv.indexOf('/cache/runyard'));
    expect(argv.indexOf('/ws/proj/.secret')).toBeGreaterThan(argv.indexOf('/ws/proj'));
    expect(joined).toContain('--setenv FOO bar --chdir /ws/proj -- python3 -c print(1)');
  });

  it('wraps the command in the proxy forwarder and sets proxy env for network proxy', () => {
    const argv = buildBwrapArgv({
      command: ['curl', 'https://example.com'],
      workspace: '/ws',
      network: 'proxy',
      proxySocket: '/run/runyard/proxy.sock',
      proxyPort: 8888,
      env: {},
      nodePath: '/usr/bin/node',
    });
    const tail = argv.slice(argv.indexOf('--') + 1);
    expect(tail).toEqual([
      '/usr/bin/node',
      '-e',
      FORWARDER_SOURCE,
      '--',
      '/run/runyard/proxy.sock',
      '8888',
      'curl',
      'https://example.com',
    ]);
    expect(argv.join(' ')).toContain('--setenv https_proxy http://127.0.0.1:8888');
    expect(argv.join(' ')).toContain('--ro-bind /run/runyard/proxy.sock /run/runyard/proxy.sock');
  });

  it('rejects unsafe specs with a typed error and no path in the message', () => {
    const base: BwrapSpec = { command: ['true'], network: 'none', env: {} };
    const bad: Partial<BwrapSpec>[] = [
      { command: [] },
      { command: ['a\0b'] },
      { workspace: 'relative/ws' },
      { workspace: '/ws/../etc' },
      { workspace: '/' },
      { mounts: [{ path: '/a//b' }] },
      { hiddenPaths: ['/x/./y'] },
      { env: { 'BAD-NAME': 'x' } },
      { env: { __proto__: 'x', 'A=B': 'c' } as Record<string, string> },
      { env: { OK: 'a\0b' } },
      { network: 'host' as 'none' },
      { network: 'proxy' },
      { network: 'proxy', proxySocket: '/s', proxyPort: 70_000 },
    ];
    for (const patch of bad) {
      let caught: unknown;
      try {
        buildBwrapArgv({ ...base, ...patch, pathKind: () => 'dir' });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(patch)).toBeInstanceOf(SandboxError);
      expect((caught as SandboxError).code).toBe('invalid_sandbox_spec');
      expect((caught as SandboxError).message).not.toMatch(/\/ws|\/etc|\/x\//);
    }
  });
});

describe('confinement with real bubblewrap', () => {
  // /var/tmp, not /tmp: the sandbox's private /tmp would hide anything under /tmp anyway,
  // and these tests must prove the hiding rules themselves.
  let root: string;
  let workspace: string;
  let configDir: string;
  let outside: string;
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    root = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'runyard-bwrap-'));
    workspace = join(root, 'ws');
    configDir = join(root, 'config');
    outside = join(root, 'outside');
    for (const d of [workspace, configDir, outside]) mkdirSync(d);
    writeFileSync(join(configDir, 'trust.key'), 'TRUST-KEY-MATERIAL', { mode: 0o600 });
    writeFileSync(join(outside, 'keep.txt'), 'original');
    server = createServer((socket) => socket.end('hello from the host\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  it('hides the trust key (dir or single file) that is readable without hiding', (ctx) => {
    const bwrap = needBwrap(ctx);
    const read = sh(`cat ${join(configDir, 'trust.key')}`);
    const control = runIn({ command: read, workspace, network: 'none', env: {} }, bwrap);
    expect(control.stdout).toBe('TRUST-KEY-MATERIAL');
    const hiddenDir = runIn(
      { command: read, workspace, network: 'none', env: {}, hiddenPaths: [configDir] },
      bwrap,
    );
    expect(hiddenDir.status).not.toBe(0);
    expect(hiddenDir.stdout).not.toContain('TRUST-KEY');
    const hiddenFile = runIn(
      {
        command: read,
        workspace,
        network: 'none',
        env: {},
        hiddenPaths: [join(configDir, 'trust.key')],
      },
      bwrap,
    );
    expect(hiddenFile.stdout).toBe('');
  });

  it('drops every capability, so hiding cannot be undone by unmounting (even as root)', (ctx) => {
    const bwrap = needBwrap(ctx);
    const key = join(configDir, 'trust.key');
    const result = runIn(
      {
        command: sh(
          `grep CapEff /proc/self/status; umount ${configDir} 2>/dev/null || echo umount-denied; ` +
            `mount -t tmpfs none ${workspace} 2>/dev/null || echo mount-denied; cat ${key} 2>/dev/null || echo key-hidden`,
        ),
        workspace,
        network: 'none',
        env: {},
        hiddenPaths: [configDir],
      },
      bwrap,
    );
    expect(result.stdout).toBe(
      'CapEff:\t0000000000000000\numount-denied\nmount-denied\nkey-hidden\n',
    );
  });

  it('writes inside the workspace and nowhere else', (ctx) => {
    const bwrap = needBwrap(ctx);
    const result = runIn(
      {
        command: sh(
          `echo made > ${join(workspace, 'out.txt')} && echo ws-ok; ` +
            `echo evil > ${join(outside, 'keep.txt')} || echo outside-denied; ` +
            `echo evil > ${join(outside, 'new.txt')} || echo new-denied; ` +
            `touch /etc/runyard-evil || echo etc-denied`,
        ),
        workspace,
        network: 'none',
        env: {},
      },
      bwrap,
    );
    expect(result.stdout.split('\n').filter(Boolean)).toEqual([
      'ws-ok',
      'outside-denied',
      'new-denied',
      'etc-denied',
    ]);
    expect(readFileSync(join(workspace, 'out.txt'), 'utf8')).toBe('made\n');
    expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('original');
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
    expect(existsSync('/etc/runyard-evil')).toBe(false);
  });

  it('cannot open a direct TCP connection to a host server the host itself reaches', async (ctx) => {
    const bwrap = needBwrap(ctx);
    const probe = `require('node:net').connect(${port}, '127.0.0.1')
      .on('data', (d) => { process.stdout.write('connected ' + d); process.exit(0); })
      .on('error', (e) => { process.stdout.write(e.code); process.exit(3); });`;
    // Async: the server lives in this process, so a blocking spawn could never be answered.
    const host = await new Promise<string>((resolve) => {
      execFile(process.execPath, ['-e', probe], (_error, stdout) => resolve(stdout));
    });
    expect(host).toBe('connected hello from the host\n');
    const inside = runIn(
      { command: [process.execPath, '-e', probe], workspace, network: 'none', env: {} },
      bwrap,
    );
    expect(inside.stdout).toBe('ECONNREFUSED');
    expect(inside.status).toBe(3);
    const outbound = runIn(
      {
        command: [
          process.execPath,
          '-e',
          `require('node:net').connect(443, '1.1.1.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { process.stdout.write(e.code); process.exit(3); });`,
        ],
        workspace,
        network: 'none',
        env: {},
      },
      bwrap,
    );
    expect(outbound.stdout).toBe('ENETUNREACH');
  });

  it('has a private /tmp and an empty /run', (ctx) => {
    const bwrap = needBwrap(ctx);
    const hostTmp = mkdtempSync(join(tmpdir(), 'runyard-bwrap-tmp-'));
    try {
      writeFileSync(join(hostTmp, 'host-marker'), 'x');
      const result = runIn(
        {
          command: sh(
            `ls ${hostTmp} 2>/dev/null && echo visible || echo absent; echo inside > /tmp/sandbox-marker && cat /tmp/sandbox-marker`,
          ),
          workspace,
          network: 'none',
          env: {},
        },
        bwrap,
      );
      expect(result.stdout).toBe('absent\ninside\n');
      // /run (host daemons' sockets) is empty too.
      const run = runIn(
        { command: sh('ls -A /run | wc -l'), workspace, network: 'none', env: {} },
        bwrap,
      );
      expect(run.stdout.trim()).toBe('0');
      expect(existsSync(join(tmpdir(), 'sandbox-marker'))).toBe(false);
      expect(existsSync('/tmp/sandbox-marker')).toBe(false);
    } finally {
      rmSync(hostTmp, { recursive: true, force: true });
    }
  });

  it('passes only the given environment and re-exposes the env prefix read-only', (ctx) => {
    const bwrap = needBwrap(ctx);
    const cache = join(root, 'cache');
    const prefix = join(cache, 'envs', 'e1');
    mkdirSync(prefix, { recursive: true });
    writeFileSync(join(prefix, 'marker'), 'env-in-use');
    writeFileSync(join(cache, 'other-env-secret'), 'nope');
    process.env.RUNYARD_TEST_LEAK = 'leaky';
    try {
      const result = runIn(
        {
          command: sh(
            `env | sort; cat ${join(prefix, 'marker')}; echo; cat ${join(cache, 'other-env-secret')} || echo hidden; touch ${join(prefix, 'x')} || echo prefix-ro`,
          ),
          workspace,
          envPrefix: prefix,
          hiddenPaths: [cache],
          network: 'none',
          env: { ONLY: 'this', PATH: '/usr/bin:/bin' },
        },
        bwrap,
      );
      const lines = result.stdout.split('\n');
      expect(lines.filter((l) => l.includes('='))).toEqual([
        'ONLY=this',
        'PATH=/usr/bin:/bin',
        `PWD=${workspace}`,
      ]);
      expect(result.stdout).toContain('env-in-use');
      expect(result.stdout).toContain('hidden');
      expect(result.stdout).toContain('prefix-ro');
      expect(result.stdout).not.toContain('leaky');
    } finally {
      delete process.env.RUNYARD_TEST_LEAK;
    }
  });
});
