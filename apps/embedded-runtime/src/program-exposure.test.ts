/**
 * Issue 22 §3: a worker's program named through the workspace must not make the sandbox expose
 * a hidden directory. Real bubblewrap (as root on the project's machine), real workers through
 * the runtime, and the check-then-use race played with the real launcher.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealBundle } from '@runyard/config-bundles';
import type { RuntimeEvent } from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { Runtime } from './runtime.js';
import { probeBubblewrap, programSource, RuntimeSandbox } from './sandboxing.js';
import { processesMentioning, runtimeFor, until } from './test-support/helpers.js';

const detection = probeBubblewrap(undefined, process.env);
const canSandbox = detection.available;
const SKIP_REASON = `needs a working bubblewrap: ${detection.reason ?? 'unavailable'}`;
const CREDENTIAL = 'cargo-credential-that-must-stay-hidden-0123';

describe(`programs named through the workspace (${canSandbox ? 'bubblewrap' : `SKIPPED: ${SKIP_REASON}`})`, () => {
  // Outside /tmp: the sandbox's private /tmp would hide these anyway; the runtime's own hiding
  // rules are what is under test.
  let root: string;
  let ws: string;
  let home: string;
  let hiddenBin: string;
  let runtime: Runtime;
  // Bundles refuse `..` in argv: a relative name leaving the workspace is covered below.
  let bundleRef: { id: string; digest: string } | undefined;
  const events: RuntimeEvent[] = [];
  const hostPath = () => `${hiddenBin}:/usr/bin:/bin`;

  const output = (workerId: string) =>
    events
      .filter(
        (e): e is Extract<RuntimeEvent, { type: 'worker_output' }> =>
          e.type === 'worker_output' && e.workerId === workerId,
      )
      .map((e) => e.text)
      .join('');

  beforeAll(async () => {
    if (!canSandbox) return;
    root = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'runyard-expose-'));
    ws = join(root, 'ws');
    home = join(root, 'home');
    hiddenBin = join(home, '.cargo', 'bin');
    mkdirSync(join(ws, 'scripts'), { recursive: true });
    mkdirSync(hiddenBin, { recursive: true });
    // A program in a hidden directory, next to a credential its grandparent would expose.
    writeFileSync(join(home, '.cargo', 'credentials.toml'), `token = "${CREDENTIAL}"\n`);
    const npc = join(hiddenBin, 'npc-real');
    writeFileSync(
      npc,
      `#!/bin/sh\necho "REAL-HIDDEN-PROGRAM"\ncat "${join(home, '.cargo', 'credentials.toml')}" 2>&1 || echo "CREDENTIALS-UNREADABLE"\n`,
    );
    chmodSync(npc, 0o755);
    writeFileSync(join(ws, 'scripts', 'tool.sh'), '#!/bin/sh\necho "WORKSPACE-TOOL"\n');
    chmodSync(join(ws, 'scripts', 'tool.sh'), 0o755);
    // What a kernel or another worker could leave in the workspace.
    symlinkSync(npc, join(ws, 'npc'));
    symlinkSync(join(home, '.cargo', 'bin'), join(ws, 'binlink'));
    symlinkSync('scripts/tool.sh', join(ws, 'tool'));
    const profile = (name: string, argv: string[]) => ({
      selector: { kind: 'named', value: name },
      worker: { kind: 'command', argv },
      grants: [],
    });
    const bundle = sealBundle({
      metadata: {
        id: 'ws-1.expose',
        revision: 1,
        workspaceId: 'ws-1',
        createdAt: '2025-01-02T03:04:05Z',
        provenance: { source: 'test' },
      },
      profiles: [
        profile('via-link', ['./npc']),
        profile('via-dir-link', ['binlink/npc-real']),
        profile('inside-link', ['./tool']),
        profile('on-path', ['npc-real']),
      ],
      declarations: [],
    } as Parameters<typeof sealBundle>[0]);
    runtime = await runtimeFor(
      {
        dataDir: join(root, 'data'),
        cacheDir: join(root, 'cache'),
        configDir: join(root, 'config'),
        workspaceRoot: ws,
      },
      // The hidden bin dir is on the host's PATH: that is the legitimate way to name it.
      { sandbox: 'required', env: { ...process.env, PATH: hostPath(), HOME: home } },
    );
    runtime.subscribe((event) => events.push(event));
    await runtime.storeBundle(bundle);
    bundleRef = { id: bundle.metadata.id, digest: bundle.metadata.digest };
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    if (root) {
      expect(processesMentioning(root)).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  const ref = () => bundleRef;

  async function run(profile: string, workerId: string) {
    const meta = ref() as { id: string; digest: string };
    const info = await runtime.createWorker({
      workerId,
      profile: { kind: 'named', value: profile },
      configBundle: { id: meta.id, digest: meta.digest },
    });
    await until(async () => {
      const state = (await runtime.getWorker(workerId)).state;
      return state === 'stopped' || state === 'failed';
    }, 30_000);
    return { info, out: output(workerId), final: await runtime.getWorker(workerId) };
  }

  it('a workspace symlink to a program in a hidden dir is refused with a typed error', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    for (const [profile, id] of [
      ['via-link', 'w-link'],
      ['via-dir-link', 'w-dir-link'],
    ] as const) {
      const meta = ref() as { id: string; digest: string };
      const error = await runtime
        .createWorker({
          workerId: id,
          profile: { kind: 'named', value: profile },
          configBundle: { id: meta.id, digest: meta.digest },
        })
        .catch((e: unknown) => e);
      expect(error, profile).toMatchObject({ code: 'path_outside_workspace' });
      expect(String((error as Error).message)).not.toContain(root);
      expect(output(id)).toBe('');
    }
    expect(JSON.stringify(events)).not.toContain(CREDENTIAL);
  });

  it('a symlink that stays inside the workspace runs as it is', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const { out, final } = await run('inside-link', 'w-inside');
    expect(final).toMatchObject({ state: 'stopped', exitCode: 0 });
    expect(out).toContain('WORKSPACE-TOOL');
  });

  it('a program found through the host PATH is still exposed and runs', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const { out, final } = await run('on-path', 'w-path');
    expect(final).toMatchObject({ state: 'stopped', exitCode: 0 });
    expect(out).toContain('REAL-HIDDEN-PROGRAM');
  });

  it('check-then-use: a link re-pointed after the check reaches nothing hidden', async (ctx: TestContext) => {
    if (!canSandbox) ctx.skip(SKIP_REASON);
    const sandbox = new RuntimeSandbox({
      mode: 'required',
      dataDir: join(root, 'data'),
      configDir: join(root, 'config'),
      cacheDir: join(root, 'cache'),
      workspaceRoot: ws,
      kernelsDir: join(root, 'data', 'kernels'),
      hiddenPaths: [home],
      hostPath: hostPath(),
      env: process.env,
    });
    const link = join(ws, 'swap');
    symlinkSync('scripts/tool.sh', link);
    // Checked while it points inside the workspace...
    expect(programSource('./swap', { cwd: ws, workspaceRoot: ws, hostPath: hostPath() })).toEqual({
      kind: 'workspace',
    });
    const argv = sandbox.commandArgv({
      command: ['./swap'],
      cwd: ws,
      mounts: undefined,
      env: { PATH: '/usr/bin:/bin' },
    });
    // ...no mount of anything under the hidden home was planned for it...
    expect(argv.join(' ')).not.toContain(join(home, '.cargo'));
    // ...and the workspace re-points it before bwrap execs it.
    unlinkSync(link);
    symlinkSync(join(hiddenBin, 'npc-real'), link);
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: ws,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d;
      });
      child.once('close', (code) => resolve({ code, out }));
    });
    // Inside, the hidden home is an empty tmpfs: the swapped link dangles.
    expect(result.code).not.toBe(0);
    expect(result.out).not.toContain('REAL-HIDDEN-PROGRAM');
    expect(result.out).not.toContain(CREDENTIAL);
    unlinkSync(link);
  });
});

describe('programSource (classification)', () => {
  it('classifies by where the program is named, never exposing a workspace name', () => {
    const root = mkdtempSync(join(tmpdir(), 'runyard-progsrc-'));
    try {
      const ws = join(root, 'ws');
      const outside = join(root, 'outside');
      mkdirSync(join(ws, 'bin'), { recursive: true });
      mkdirSync(outside, { recursive: true });
      const exe = (path: string) => {
        writeFileSync(path, '#!/bin/sh\n');
        chmodSync(path, 0o755);
      };
      exe(join(ws, 'bin', 'inner'));
      exe(join(outside, 'outer'));
      symlinkSync(join(outside, 'outer'), join(ws, 'leaves'));
      const opts = (hostPath: string) => ({ cwd: ws, workspaceRoot: ws, hostPath });
      expect(programSource('./bin/inner', opts('/usr/bin'))).toEqual({ kind: 'workspace' });
      expect(programSource('sh', opts('/usr/bin:/bin'))).toMatchObject({ kind: 'host' });
      expect(programSource(join(outside, 'outer'), opts(''))).toEqual({
        kind: 'host',
        file: join(outside, 'outer'),
      });
      // A PATH entry inside the workspace (or a relative one) is the workspace, not the host.
      expect(programSource('inner', opts(join(ws, 'bin')))).toEqual({ kind: 'workspace' });
      expect(programSource('inner', opts('bin'))).toEqual({ kind: 'workspace' });
      expect(programSource('nothing-here', opts('/usr/bin'))).toEqual({ kind: 'missing' });
      expect(programSource('./missing', opts('/usr/bin'))).toEqual({ kind: 'missing' });
      for (const program of ['./leaves', join(ws, 'leaves'), '../outside/outer']) {
        expect(() => programSource(program, opts('/usr/bin')), program).toThrow(
          expect.objectContaining({ code: 'path_outside_workspace' }),
        );
      }
      symlinkSync(outside, join(ws, 'outlink'));
      exe(join(ws, 'bin', 'x'));
      expect(() => programSource('outlink/outer', opts('/usr/bin'))).toThrow(
        expect.objectContaining({ code: 'path_outside_workspace' }),
      );
      expect(() => programSource('leaves', opts(ws))).toThrow(
        expect.objectContaining({ code: 'path_outside_workspace' }),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
