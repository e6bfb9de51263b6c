// Issue 15's attacks (findings 1–4 and 10) against a real workspace server: a real sandboxed
// kernel where the finding needs one, otherwise the kernel's effect reproduced by the test (or a
// concurrent process) writing the same thing into the workspace. Each test is named after the
// finding it keeps fixed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { processesMentioning } from '@runyard/kernels';
import { SYSTEM_PYTHON, until } from '@runyard/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServeConfig } from './config.js';
import { startWorkspaceServer } from './server.js';
import {
  errorCode,
  type Harness,
  startHarness,
  tempDir,
  testConfig,
} from './test-support/harness.js';

interface Info {
  notebookId: string;
  lifecycle: string;
  error?: { reason: string };
}

let h: Harness;
let outside: string;

beforeAll(async () => {
  h = await startHarness({ overrides: { sandbox: 'required' } });
  outside = join(h.dir, 'outside');
  mkdirSync(outside);
  writeFileSync(
    join(outside, 'secret.ipynb'),
    JSON.stringify({ cells: [], metadata: { secret: 's3cr3t-value' }, nbformat: 4 }),
  );
}, 60_000);

afterAll(async () => {
  await h.close();
});

const ws = () => h.config.workspace;

async function create(path: string): Promise<Info> {
  const response = await h.api('/api/notebooks', { method: 'POST', json: { path } });
  expect(response.status).toBe(201);
  return (await response.json()) as Info;
}

describe('issue 15 #1: a sandboxed kernel cannot configure the next start', () => {
  it('a config file and an interpreter a kernel writes into the workspace are never used', async () => {
    const info = await create('attack1.ipynb');
    expect(info.lifecycle).toBe('idle');
    const evil = join(ws(), 'evilpy');
    const marker = join(ws(), 'pwned');
    const code = [
      'import json, os',
      `cfg = {"sandbox": "off", "python": ${JSON.stringify(evil)}, "token": "attacker-token-0123456789"}`,
      'for name in ("runyard.config.json", "config.json"):',
      `    open(os.path.join(${JSON.stringify(ws())}, name), "w").write(json.dumps(cfg))`,
      `open(${JSON.stringify(evil)}, "w").write("#!/bin/sh\\ntouch ${marker}\\n")`,
      `os.chmod(${JSON.stringify(evil)}, 0o755)`,
      'print("written")',
    ].join('\n');
    const executed = await h.api(`/api/notebooks/${info.notebookId}/execute`, {
      method: 'POST',
      json: { code },
    });
    expect(JSON.stringify(await executed.json())).toContain('written');
    expect(existsSync(join(ws(), 'runyard.config.json'))).toBe(true);

    // The next start, the way the CLI loads its settings with nothing but the workspace given.
    const next = loadServeConfig({
      flags: { workspace: ws() },
      env: {},
      cwd: ws(),
      home: join(h.dir, 'home'),
    });
    expect(next).toMatchObject({ sandbox: 'auto' });
    expect(next.python).toBeUndefined();
    expect(next.token).toBeUndefined();
    // Naming the planted file explicitly is refused too, and so is the planted interpreter.
    expect(() =>
      loadServeConfig({ flags: {}, env: {}, cwd: ws(), configFile: 'runyard.config.json' }),
    ).toThrowError(/inside the workspace/);
    expect(() =>
      loadServeConfig({ flags: { python: evil }, env: {}, cwd: h.dir, home: h.dir }),
    ).toThrowError(/python is inside the workspace/);
    expect(existsSync(marker)).toBe(false);
  }, 120_000);

  it('refuses to start with the data, config or cache dir inside the workspace', async () => {
    // A kernel renames a parent of the (tmpfs-hidden) dir and puts its own trust key, token or
    // database in its place; a runtime that keeps them there cannot be protected.
    const dir = tempDir('runyard-layout-');
    try {
      for (const key of ['dataDir', 'configDir', 'cacheDir'] as const) {
        const config = testConfig(dir);
        const inside = { ...config, [key]: join(config.workspace, '.runyard', key) };
        await expect(startWorkspaceServer(inside, { logger: false })).rejects.toMatchObject({
          code: 'runtime_dir_in_workspace',
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('issue 15 #2: a symlinked notebook does not read a file outside the workspace', () => {
  it('a dependency edit on a notebook swapped for a symlink is refused and writes nothing', async () => {
    const info = await create('exfil.ipynb');
    rmSync(join(ws(), 'exfil.ipynb'));
    symlinkSync(join(outside, 'secret.ipynb'), join(ws(), 'exfil.ipynb'));
    const response = await h.api(`/api/notebooks/${info.notebookId}/dependencies`, {
      method: 'POST',
      json: { add: ['six'] },
    });
    expect(response.status).toBe(409);
    expect(await errorCode(response)).toBe('workspace_file_unsafe');
    // Still the symlink: the secret was neither read nor copied into the workspace.
    expect(readdirSync(ws()).filter((name) => name.includes('exfil'))).toEqual(['exfil.ipynb']);
    expect(readFileSync(join(outside, 'secret.ipynb'), 'utf8')).not.toContain('six');
    // Opening it by name: the link leaves the workspace, refused before anything is opened.
    const opened = await h.api('/api/notebooks/open', {
      method: 'POST',
      json: { path: 'exfil.ipynb' },
    });
    expect(opened.status).toBe(400);
    expect(await errorCode(opened)).toBe('path_outside_workspace');
  });
});

describe('issue 15 #3: a directory swapped for a symlink during edits', () => {
  it('60 dependency edits while a process swaps sub/ never write outside, leave no temp file', async () => {
    mkdirSync(join(ws(), 'sub'));
    const info = await create('sub/n.ipynb');
    symlinkSync(outside, join(ws(), 'sub.link'));
    const swapper: ChildProcess = spawn(
      SYSTEM_PYTHON,
      [
        '-c',
        `
import os, sys
os.chdir(sys.argv[1])
print('ready', flush=True)
while True:
    for a, b in (('sub', 'sub.real'), ('sub.link', 'sub'), ('sub', 'sub.link'), ('sub.real', 'sub')):
        try:
            os.rename(a, b)
        except OSError:
            pass
`,
        ws(),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const statuses = new Map<number, number>();
    try {
      let ready = '';
      swapper.stdout?.on('data', (chunk: Buffer) => {
        ready += chunk.toString();
      });
      await until(() => ready.includes('ready'), 10_000);
      for (let i = 0; i < 60; i++) {
        const response = await h.api(`/api/notebooks/${info.notebookId}/dependencies`, {
          method: 'POST',
          json: i % 2 === 0 ? { add: [`pkg${i}`] } : { remove: [`pkg${i - 1}`] },
        });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    } finally {
      swapper.kill('SIGKILL');
    }
    // Typed answers only: 200 when the real dir was in place, 409/404 when it was not.
    for (const status of statuses.keys()) expect([200, 404, 409]).toContain(status);
    expect(readdirSync(outside).sort()).toEqual(['secret.ipynb']);
    for (const name of ['sub', 'sub.real', 'sub.link']) {
      const path = join(ws(), name);
      if (!existsSync(path)) continue;
      const entries = readdirSync(path);
      if (entries.includes('secret.ipynb')) continue; // the symlink to outside
      expect(entries.filter((entry) => entry.endsWith('.tmp'))).toEqual([]);
    }
  }, 120_000);
});

describe('issue 15 #4: a notebook cannot freeze or memory-bomb the server', () => {
  it('a FIFO notebook and a /dev/zero symlink are refused at once; /healthz keeps answering', async () => {
    execFileSync('mkfifo', [join(ws(), 'fifo.ipynb')]);
    symlinkSync('/dev/zero', join(ws(), 'zero.ipynb'));
    const before = process.memoryUsage().rss;
    for (const [path, status, code] of [
      ['fifo.ipynb', 409, 'workspace_file_unsafe'],
      // A link out of the workspace is refused by name before anything is opened.
      ['zero.ipynb', 400, 'path_outside_workspace'],
    ] as const) {
      const response = await h.api('/api/notebooks/open', { method: 'POST', json: { path } });
      expect(response.status).toBe(status);
      expect(await errorCode(response)).toBe(code);
      expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    }
    // A known notebook swapped for /dev/zero, then restarted: the start fails with a reason.
    const info = await create('later-zero.ipynb');
    rmSync(join(ws(), 'later-zero.ipynb'));
    symlinkSync('/dev/zero', join(ws(), 'later-zero.ipynb'));
    const restarted = await h.api(`/api/notebooks/${info.notebookId}/restart`, { method: 'POST' });
    const after = (await restarted.json()) as Info;
    expect(after).toMatchObject({
      lifecycle: 'error',
      error: { reason: 'workspace_file_unsafe' },
    });
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  }, 60_000);

  it('a notebook that is slow to parse does not stop /healthz from answering meanwhile', async () => {
    // 1.9 million empty arrays in 5.7 MB (under the 2 million value limit): seconds of JSON.parse
    // wherever it runs. Invalid metadata, so once parsed the start fails fast instead of
    // launching a kernel.
    const bomb = `{"cells": [${Array(1_900_000).fill('[]').join(',')}], "metadata": 5}`;
    writeFileSync(join(ws(), 'bomb.ipynb'), bomb);
    let opened = false;
    const open = h
      .api('/api/notebooks/open', { method: 'POST', json: { path: 'bomb.ipynb' } })
      .then(async (response) => {
        opened = true;
        return { status: response.status, body: (await response.json()) as Info };
      });
    // Health checks one after another while the open is in flight: with the parse on the event
    // loop none could be answered until it ended.
    let answered = 0;
    while (!opened) {
      const response = await fetch(`${h.url}/healthz`);
      await response.arrayBuffer();
      if (!opened && response.status === 200) answered++;
    }
    const result = await open;
    expect(result.body).toMatchObject({
      lifecycle: 'error',
      error: { reason: 'notebook_invalid' },
    });
    // Parsed on the event loop, only the health checks answered before the parse began get
    // through (18 measured); parsed off it, they keep coming all along (811 measured). Both
    // counts scale with the machine's speed alike, so the bound separates them under load too.
    expect(answered).toBeGreaterThanOrEqual(100);
  }, 120_000);

  it('a notebook with more values than the parse limit is refused before parsing', async () => {
    // 64 MB of `[]` took 7+ minutes of GC and 2 GB of RSS in the parse worker before this limit.
    writeFileSync(join(ws(), 'values.ipynb'), `[${Array(2_100_000).fill('[]').join(',')}]`);
    const before = process.memoryUsage().rss;
    const response = await h.api('/api/notebooks/open', {
      method: 'POST',
      json: { path: 'values.ipynb' },
    });
    expect(await response.json()).toMatchObject({
      lifecycle: 'error',
      error: { reason: 'notebook_too_large' },
    });
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  }, 60_000);
});

describe('issue 15 #10: typed answers for impossible paths', () => {
  it('a 300-character path component is 400 invalid_request, a directory is 409', async () => {
    const long = await h.api('/api/notebooks', {
      method: 'POST',
      json: { path: `${'a'.repeat(300)}.ipynb` },
    });
    expect(long.status).toBe(400);
    expect(await errorCode(long)).toBe('invalid_request');
    const longOpen = await h.api('/api/notebooks/open', {
      method: 'POST',
      json: { path: `d/${'a'.repeat(300)}.ipynb` },
    });
    expect(longOpen.status).toBe(400);
    mkdirSync(join(ws(), 'folder.ipynb'));
    const overDir = await h.api('/api/notebooks', {
      method: 'POST',
      json: { path: 'folder.ipynb' },
    });
    expect(overDir.status).toBe(409);
    expect(await errorCode(overDir)).toBe('workspace_file_unsafe');
  });

  it('temp files a killed write left beside a notebook are gone at the next open', async () => {
    await create('k0.ipynb');
    for (const hex of ['0123abcd', 'feedf00d'])
      writeFileSync(join(ws(), `.k0.ipynb.${hex}.tmp`), '{"half": ');
    const response = await h.api('/api/notebooks/open', {
      method: 'POST',
      json: { path: 'k0.ipynb' },
    });
    expect(response.status).toBe(200);
    expect(readdirSync(ws()).filter((name) => name.startsWith('.k0.ipynb.'))).toEqual([]);
    expect(processesMentioning(join(h.dir, 'nothing-here'))).toEqual([]);
  });
});
