import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, type RuntimeEvent, RuntimeInfoSchema } from '@runyard/runtime-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  buildTinyWheel,
  closeAndRemove,
  type Dirs,
  dirsUnder,
  downloadedNotebook,
  nextEvent,
  plainResult,
  runtimeFor,
  tempRoot,
  until,
} from './test-support/helpers.js';

// One runtime (with a one-kernel warm pool) shared by every scenario: kernels are the expensive
// part on a two-core machine.
let dirs: Dirs;
let runtime: Runtime;
const events: RuntimeEvent[] = [];

beforeAll(async () => {
  dirs = dirsUnder(tempRoot('notebooks'));
  buildTinyWheel(dirs.wheelhouse);
  buildTinyWheel(dirs.wheelhouse, 'syncpkg');
  runtime = await runtimeFor(dirs, {
    pool: { envs: 0, kernels: 1 },
    restartPolicy: { maxRestarts: 1 },
    // The runtime's own settings must never reach notebook code.
    env: { ...process.env, RUNYARD_SECRET_PROBE: 'host-secret-value' },
  });
  runtime.subscribe((event) => events.push(event));
});

afterAll(() => closeAndRemove(runtime, dirs));

async function execute(notebookId: string, code: string) {
  return runtime.execute(notebookId, { code });
}

/**
 * ipykernel aborts (status `aborted`) requests that arrive just after a cell failed with
 * stop_on_error, as happens right after an interrupt; a caller sends them again.
 */
async function executeAfterError(notebookId: string, code: string) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await execute(notebookId, code);
    if (result.status !== 'aborted') return result;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('every execute was aborted');
}

describe('trust scenarios end to end', () => {
  it('create with dependencies: the call is consent, the notebook runs', async () => {
    const info = await runtime.createNotebook({ path: 'fresh.ipynb', dependencies: ['packaging'] });
    expect(RuntimeInfoSchema.parse(info)).toEqual(info);
    expect(info.lifecycle).toBe('idle');
    expect(info.trust).toMatchObject({ status: 'trusted', needsApproval: false, untrusted: [] });
    expect(info.envSource).toBe('uv:inline');
    expect(info.envHash).toMatch(/^[0-9a-f]{16}$/);
    expect(info.nextAction).toBeUndefined();
    const result = await execute(info.notebookId, '1+1');
    expect(result.status).toBe('ok');
    expect(plainResult(result)).toBe('2');
    const probe = await execute(info.notebookId, 'import os; "RUNYARD_SECRET_PROBE" in os.environ');
    expect(plainResult(probe)).toBe('False');
    // The file is a real nbformat notebook carrying the dependency.
    const written = JSON.parse(readFileSync(join(dirs.workspaceRoot, 'fresh.ipynb'), 'utf8'));
    expect(written.metadata.uv.dependencies).toEqual(['packaging']);
    expect(events.some((e) => e.type === 'env_progress' && e.notebookId === info.notebookId)).toBe(
      true,
    );
  });

  it('interrupts a running cell, and a timed-out execute is a typed error', async () => {
    const [info] = (await runtime.listNotebooks()).filter((n) => n.path === 'fresh.ipynb');
    if (!info) throw new Error('missing notebook');
    // Interrupt once the cell's own code runs: a SIGINT that lands while the kernel is busy
    // but still in its own dispatch code is not the cell's KeyboardInterrupt.
    const started = nextEvent(
      runtime,
      (e) =>
        e.type === 'output' &&
        e.notebookId === info.notebookId &&
        e.output.output_type === 'stream' &&
        e.output.text.includes('sleeping'),
    );
    const running = execute(
      info.notebookId,
      'import time; print("sleeping", flush=True); time.sleep(30)',
    );
    await started;
    await runtime.interrupt(info.notebookId);
    const interrupted = await running;
    expect(interrupted.status).toBe('error');
    expect(
      interrupted.outputs.some((o) => o.output_type === 'error' && o.ename === 'KeyboardInterrupt'),
    ).toBe(true);
    expect(plainResult(await executeAfterError(info.notebookId, '2*2'))).toBe('4');
    const slow = await runtime
      .execute(info.notebookId, { code: 'import time; time.sleep(30)', timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect((slow as RuntimeError).code).toBe('execution_timeout');
    expect(plainResult(await executeAfterError(info.notebookId, '3*3'))).toBe('9');
    const invalid = await runtime
      .execute(info.notebookId, { code: 1 } as unknown as { code: string })
      .catch((e: unknown) => e);
    expect((invalid as RuntimeError).code).toBe('invalid_request');
    const unknown = await execute('nope', '1').catch((e: unknown) => e);
    expect((unknown as RuntimeError).code).toBe('notebook_not_found');
  });

  it('create with no dependencies: no_dependencies, served by the warm kernel pool', async () => {
    await until(async () => (await runtime.pool()).kernelPool.ready === 1);
    mkdirSync(join(dirs.workspaceRoot, 'sub'));
    const info = await runtime.createNotebook({ path: 'sub/empty.ipynb' });
    expect(info.trust.status).toBe('no_dependencies');
    expect(info.lifecycle).toBe('idle');
    expect(info.envSource).toBe('uv:prewarmed');
    const where = await execute(
      info.notebookId,
      'import os, sys; (os.getcwd(), "claimed" in sys.prefix)',
    );
    expect(plainResult(where)).toBe(`('${join(dirs.workspaceRoot, 'sub')}', True)`);
  });

  it("apply 'sync' installs into a notebook's own env while the kernel keeps its state", async () => {
    const [info] = (await runtime.listNotebooks()).filter((n) => n.path === 'sub/empty.ipynb');
    if (!info) throw new Error('missing notebook');
    await execute(info.notebookId, 'state = "kept"');
    const pid = plainResult(await execute(info.notebookId, 'import os; os.getpid()'));
    // Approving (the fingerprint of what was seen) and naming a package in one call.
    const synced = await runtime.manageDependencies(info.notebookId, {
      add: ['syncpkg'],
      trust: true,
      fingerprint: info.trust.fingerprint,
      apply: 'sync',
    });
    expect(synced.trust.status).toBe('trusted');
    expect(synced.envSource).toBe('uv:inline');
    const after = await execute(
      info.notebookId,
      'import syncpkg, os; (syncpkg.VALUE, state, os.getpid())',
    );
    expect(plainResult(after)).toBe(`(42, 'kept', ${pid})`);
  });

  it('open of a downloaded notebook stops at awaiting_trust until manageDependencies approves', async () => {
    writeFileSync(join(dirs.workspaceRoot, 'downloaded.ipynb'), downloadedNotebook(['tinypkg']));
    const info = await runtime.openNotebook('downloaded.ipynb');
    expect(info.lifecycle).toBe('awaiting_trust');
    expect(info.kernelStatus).toBeNull();
    expect(info.trust).toMatchObject({ status: 'untrusted', needsApproval: true });
    expect(info.trust.untrusted).toEqual([{ ecosystem: 'pypi', name: 'tinypkg', spec: 'tinypkg' }]);
    expect(info.nextAction).toMatchObject({
      kind: 'approve_dependencies',
      mcp: {
        tool: 'manage_dependencies',
        arguments: {
          notebook_id: info.notebookId,
          trust: true,
          fingerprint: info.trust.fingerprint,
        },
      },
      http: { method: 'POST', body: { trust: true, fingerprint: info.trust.fingerprint } },
    });

    const refused = await execute(info.notebookId, '1+1').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RuntimeError);
    expect((refused as RuntimeError).code).toBe('notebook_awaiting_trust');
    expect((refused as RuntimeError).message).toContain('manageDependencies');

    // A fingerprint for other dependencies is refused and approves nothing.
    const stale = await runtime
      .manageDependencies(info.notebookId, { trust: true, fingerprint: `sha256:${'0'.repeat(64)}` })
      .catch((error: unknown) => error);
    expect((stale as { code: string }).code).toBe('trust_fingerprint_mismatch');
    expect((await runtime.getNotebook(info.notebookId)).lifecycle).toBe('awaiting_trust');

    const approved = await runtime.manageDependencies(info.notebookId, {
      trust: true,
      fingerprint: info.trust.fingerprint,
    });
    expect(approved.lifecycle).toBe('idle');
    expect(approved.trust.status).toBe('trusted');
    expect(approved.nextAction).toBeUndefined();
    const result = await execute(info.notebookId, 'import tinypkg; tinypkg.VALUE');
    expect(plainResult(result)).toBe('42');
    // The approval signed the file; cells and outputs are untouched.
    const saved = JSON.parse(readFileSync(join(dirs.workspaceRoot, 'downloaded.ipynb'), 'utf8'));
    expect(saved.metadata.runyard.trust_signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(saved.cells).toEqual(JSON.parse(downloadedNotebook(['tinypkg'])).cells);
  });

  it('a create that restores an existing notebook grants nothing', async () => {
    writeFileSync(join(dirs.workspaceRoot, 'restored.ipynb'), downloadedNotebook(['otherpkg']));
    const info = await runtime.createNotebook({
      path: 'restored.ipynb',
      dependencies: ['otherpkg'],
    });
    expect(info.lifecycle).toBe('awaiting_trust');
    expect(info.trust.untrusted.map((d) => d.name)).toEqual(['otherpkg']);
    // Nothing was overwritten either.
    expect(readFileSync(join(dirs.workspaceRoot, 'restored.ipynb'), 'utf8')).toBe(
      downloadedNotebook(['otherpkg']),
    );
  });
});

describe("manageDependencies apply: 'restart'", () => {
  it('restarts the kernel on the env of the new dependency set', async () => {
    const [info] = (await runtime.listNotebooks()).filter((n) => n.path === 'fresh.ipynb');
    if (!info) throw new Error('missing notebook');
    await execute(info.notebookId, 'state = "lost"');
    const pid = plainResult(await execute(info.notebookId, 'import os; os.getpid()'));
    // tinypkg was approved in the downloaded-notebook scenario above.
    const restarted = await runtime.manageDependencies(info.notebookId, {
      add: ['tinypkg'],
      apply: 'restart',
    });
    expect(restarted).toMatchObject({ lifecycle: 'idle', envSource: 'uv:inline' });
    expect(restarted.trust.status).toBe('trusted');
    expect(restarted.envHash).not.toBe(info.envHash);
    const after = await execute(
      info.notebookId,
      `import os, tinypkg; (tinypkg.VALUE, os.getpid() != ${pid}, 'state' in globals())`,
    );
    expect(plainResult(after)).toBe('(42, True, False)');
  });
});

describe('a Deno notebook', () => {
  it('runs TypeScript in a deno kernel; inline dependencies do not apply to it', async () => {
    const info = await runtime.createNotebook({ path: 'script.ipynb', runtime: 'deno' });
    expect(info).toMatchObject({ runtime: 'deno', lifecycle: 'idle', envSource: 'deno' });
    // Deno publishes outputs after its `idle`; the client's settle round collects them, so the
    // printed value is in the result. The file shows the kernel runs in the notebook's dir.
    const result = await execute(
      info.notebookId,
      "const n: number = 40; Deno.writeTextFileSync('deno-out.txt', String(n + 2)); console.log(n + 2)",
    );
    expect(result.status).toBe('ok');
    expect(readFileSync(join(dirs.workspaceRoot, 'deno-out.txt'), 'utf8')).toBe('42');
    expect(result.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: '42\n' }]);
    const written = JSON.parse(readFileSync(join(dirs.workspaceRoot, 'script.ipynb'), 'utf8'));
    expect(written.metadata.kernelspec.name).toBe('deno');
    const refused = await runtime
      .manageDependencies(info.notebookId, { add: ['numpy'] })
      .catch((e: unknown) => e);
    expect((refused as RuntimeError).code).toBe('invalid_request');
    expect((await runtime.shutdown(info.notebookId)).lifecycle).toBe('shutdown');
  });
});

describe('notebook paths are confined to the workspace', () => {
  const outside = () => join(dirs.root, 'outside');

  it.each([
    ['a .. path', () => '../escape.ipynb'],
    ['a nested .. path', () => 'sub/../../escape.ipynb'],
    ['an absolute path elsewhere', () => join(outside(), 'abs.ipynb')],
  ])('refuses %s', async (_label, path) => {
    mkdirSync(outside(), { recursive: true });
    for (const call of [
      () => runtime.createNotebook({ path: path() }),
      () => runtime.openNotebook(path()),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect((error as RuntimeError).code).toBe('path_outside_workspace');
      expect((error as Error).message).not.toContain(dirs.root);
    }
    expect(existsSync(join(dirs.root, 'escape.ipynb'))).toBe(false);
    expect(existsSync(join(outside(), 'abs.ipynb'))).toBe(false);
  });

  it('refuses symlinks that leave the workspace (directory and file links)', async () => {
    mkdirSync(outside(), { recursive: true });
    writeFileSync(join(outside(), 'target.ipynb'), downloadedNotebook([]));
    symlinkSync(outside(), join(dirs.workspaceRoot, 'linkdir'));
    symlinkSync(join(outside(), 'target.ipynb'), join(dirs.workspaceRoot, 'link.ipynb'));
    for (const path of ['linkdir/target.ipynb', 'link.ipynb', 'linkdir/new.ipynb']) {
      const opened = await runtime.openNotebook(path).catch((e: unknown) => e);
      expect((opened as RuntimeError).code).toBe('path_outside_workspace');
      const created = await runtime.createNotebook({ path }).catch((e: unknown) => e);
      expect((created as RuntimeError).code).toBe('path_outside_workspace');
    }
    expect(existsSync(join(outside(), 'new.ipynb'))).toBe(false);
  });

  it('accepts an absolute path inside the workspace and refuses other extensions', async () => {
    writeFileSync(join(dirs.workspaceRoot, 'inside.ipynb'), downloadedNotebook(['otherpkg']));
    const info = await runtime.openNotebook(join(dirs.workspaceRoot, 'inside.ipynb'));
    expect(info.path).toBe('inside.ipynb');
    const again = await runtime.openNotebook('./inside.ipynb');
    expect(again.notebookId).toBe(info.notebookId);
    const wrong = await runtime.openNotebook('notes.txt').catch((e: unknown) => e);
    expect((wrong as RuntimeError).code).toBe('invalid_request');
    const missing = await runtime.openNotebook('missing.ipynb').catch((e: unknown) => e);
    expect((missing as RuntimeError).code).toBe('notebook_not_found');
  });
});

describe('manageDependencies writes atomically and preserves everything else', () => {
  it('splices the dependency edit into the original bytes', async () => {
    // Python-written details JavaScript would re-serialise differently: 1.0, escapes, order.
    const original =
      '{\n "cells": [\n  {\n   "cell_type": "markdown",\n   "id": "m1",\n   "metadata": {"x": 1.0},\n   "source": ["caf\\u00e9 \\u2603 <b>"]\n  }\n ],\n "metadata": {\n  "zeta": 1.50,\n  "uv": {\n   "dependencies": [\n    "packaging"\n   ],\n   "extra-key": 2.0\n  },\n  "alpha": {"nested": [1e-05]}\n },\n "nbformat": 4,\n "nbformat_minor": 5\n}\n';
    const file = join(dirs.workspaceRoot, 'edit.ipynb');
    writeFileSync(file, original);
    const info = await runtime.openNotebook('edit.ipynb');
    expect(info.trust.status).toBe('trusted');
    const edited = await runtime.manageDependencies(info.notebookId, { add: ['tinypkg'] });
    const text = readFileSync(file, 'utf8');
    const before = original.slice(0, original.indexOf('"dependencies"'));
    const after = original.slice(original.indexOf('],\n   "extra-key"') + 1);
    expect(text).toBe(`${before}"dependencies": [\n    "packaging",\n    "tinypkg"\n   ]${after}`);
    // Approved earlier in this runtime (the downloaded-notebook scenario), so still runnable.
    expect(edited.trust.status).toBe('trusted');
    // No temp file is left beside it.
    expect(readdirSync(dirs.workspaceRoot).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    await runtime.manageDependencies(info.notebookId, { remove: ['TinyPkg'] });
    expect(readFileSync(file, 'utf8')).toBe(
      `${before}"dependencies": [\n    "packaging"\n   ]${after}`,
    );
  });

  it('adds a section to a notebook without one, with its own indent', async () => {
    const original =
      '{\n  "cells": [],\n  "metadata": {\n    "kernelspec": {"name": "python3"}\n  },\n  "nbformat": 4,\n  "nbformat_minor": 5\n}';
    const file = join(dirs.workspaceRoot, 'noindent.ipynb');
    writeFileSync(file, original);
    const info = await runtime.openNotebook('noindent.ipynb');
    const edited = await runtime.manageDependencies(info.notebookId, { add: ['unknownpkg'] });
    expect(readFileSync(file, 'utf8')).toBe(
      '{\n  "cells": [],\n  "metadata": {\n    "kernelspec": {"name": "python3"},\n    "uv": {\n      "dependencies": [\n        "unknownpkg"\n      ]\n    }\n  },\n  "nbformat": 4,\n  "nbformat_minor": 5\n}',
    );
    // Adding a package is not approving it: the running kernel stays, approval is the way out.
    expect(edited.trust.needsApproval).toBe(true);
    expect(edited.nextAction?.kind).toBe('approve_dependencies');
    const hostile = await runtime
      .manageDependencies(info.notebookId, { add: ['x; rm -rf /'] })
      .catch((e: unknown) => e);
    expect((hostile as { code: string }).code).toBe('invalid_dependency');
  });
});

describe('kernel death', () => {
  it('sets error with a reason, restarts automatically, then stays in error past the limit', async () => {
    const info = await runtime.createNotebook({ ephemeral: true });
    const pidOf = async () =>
      Number(plainResult(await execute(info.notebookId, 'import os; os.getpid()')));

    const firstPid = await pidOf();
    const died = nextEvent(
      runtime,
      (e) =>
        e.type === 'lifecycle' && e.notebookId === info.notebookId && e.info.lifecycle === 'error',
    );
    process.kill(firstPid, 'SIGKILL');
    const error = (await died) as Extract<RuntimeEvent, { type: 'lifecycle' }>;
    expect(error.info.error?.reason).toBe('kernel_died');
    expect(error.info.error?.details).toContain('SIGKILL');
    expect(error.info.kernelStatus).toBe('dead');
    await until(async () => (await runtime.getNotebook(info.notebookId)).lifecycle === 'idle');
    const secondPid = await pidOf();
    expect(secondPid).not.toBe(firstPid);

    // restartPolicy.maxRestarts is 1 here: the second death is final.
    process.kill(secondPid, 'SIGKILL');
    await until(
      async () =>
        (await runtime.getNotebook(info.notebookId)).error?.reason === 'restart_limit_reached',
    );
    const stuck = await runtime.getNotebook(info.notebookId);
    expect(stuck.lifecycle).toBe('error');
    expect(stuck.nextAction?.kind).toBe('restart_kernel');
    const notReady = await execute(info.notebookId, '1').catch((e: unknown) => e);
    expect((notReady as RuntimeError).code).toBe('notebook_not_ready');

    const restarted = await runtime.restart(info.notebookId);
    expect(restarted.lifecycle).toBe('idle');
    expect(restarted.error).toBeUndefined();
    expect(plainResult(await execute(info.notebookId, '1+1'))).toBe('2');
    const down = await runtime.shutdown(info.notebookId);
    expect(down.lifecycle).toBe('shutdown');
  });
});
