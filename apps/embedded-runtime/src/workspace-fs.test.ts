// WorkspaceFs against the vectors a kernel can set up in the workspace (issue 15 findings 2, 3,
// 4, 10): symlinks at the last and at an inner component, FIFOs, devices, sparse giants, a
// directory swapped for a symlink by a concurrent process, temp-file litter, over-long names.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYSTEM_PYTHON, until } from '@runyard/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkspaceFs, workspaceEnvFs } from './workspace-fs.js';

let dir: string;
let ws: string;
let outside: string;
let files: WorkspaceFs;

beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'runyard-wsfs-')));
  ws = join(dir, 'ws');
  outside = join(dir, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.json'), '{"secret": "s3cr3t"}');
  files = new WorkspaceFs(ws);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

const read = (path: string) => files.readFile(path, { maxBytes: 1024 * 1024 });

describe('WorkspaceFs reads', () => {
  it('reads a regular file and answers null for a missing one', async () => {
    mkdirSync(join(ws, 'a', 'b'), { recursive: true });
    writeFileSync(join(ws, 'a', 'b', 'n.ipynb'), '{}');
    expect((await read('a/b/n.ipynb'))?.toString()).toBe('{}');
    expect(await read('a/b/missing.ipynb')).toBeNull();
    expect(await read('nope/missing.ipynb')).toBeNull();
  });

  it('refuses a symlink as the last component (finding 2: exfil.ipynb -> outside)', async () => {
    symlinkSync(join(outside, 'secret.json'), join(ws, 'exfil.ipynb'));
    expect(await code(read('exfil.ipynb'))).toBe('workspace_file_unsafe');
    // Even a symlink to a file inside the workspace: names are never resolved.
    writeFileSync(join(ws, 'real.ipynb'), '{}');
    symlinkSync('real.ipynb', join(ws, 'alias.ipynb'));
    expect(await code(read('alias.ipynb'))).toBe('workspace_file_unsafe');
  });

  it('refuses a symlink at an inner component', async () => {
    symlinkSync(outside, join(ws, 'sub'));
    expect(await code(read('sub/secret.json'))).toBe('workspace_file_unsafe');
    expect(await files.stat('sub/secret.json')).toBeNull();
  });

  it('refuses a FIFO at once without blocking, and a /dev/zero link (finding 4)', async () => {
    execFileSync('mkfifo', [join(ws, 'fifo.ipynb')]);
    // Were it opened blocking, this would wait for a writer forever (the test would time out).
    expect(await code(read('fifo.ipynb'))).toBe('workspace_file_unsafe');
    symlinkSync('/dev/zero', join(ws, 'zero.ipynb'));
    expect(await code(read('zero.ipynb'))).toBe('workspace_file_unsafe');
    expect(await files.stat('fifo.ipynb')).toMatchObject({ kind: 'other' });
    expect(await files.stat('zero.ipynb')).toMatchObject({ kind: 'other' });
  });

  it('checks the size on the opened file before reading a byte', async () => {
    writeFileSync(join(ws, 'huge.ipynb'), '');
    // Sparse: 8 GiB by its size, no blocks. Reading it would take the memory it claims.
    truncateSync(join(ws, 'huge.ipynb'), 8 * 1024 ** 3);
    const before = process.memoryUsage().rss;
    const error = await files
      .readFile('huge.ipynb', {
        maxBytes: 1024,
        tooLarge: (size) => new Error(`too large ${size}`),
      })
      .catch((e: Error) => e);
    expect(String(error)).toContain(`too large ${8 * 1024 ** 3}`);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('answers typed errors for a directory and an over-long name (finding 10)', async () => {
    mkdirSync(join(ws, 'dir.ipynb'));
    expect(await code(read('dir.ipynb'))).toBe('workspace_file_unsafe');
    expect(await code(read(`${'x'.repeat(300)}.ipynb`))).toBe('invalid_request');
    expect(await code(read('../outside/secret.json'))).toBe('invalid_request');
    expect(await code(read('/etc/passwd'))).toBe('invalid_request');
  });
});

describe('WorkspaceFs writes', () => {
  it('writes atomically, keeps the mode, creates parents on request', async () => {
    writeFileSync(join(ws, 'n.ipynb'), 'old', { mode: 0o600 });
    await files.writeFileAtomic('n.ipynb', 'new');
    expect(readFileSync(join(ws, 'n.ipynb'), 'utf8')).toBe('new');
    expect(
      execFileSync('stat', ['-c', '%a', join(ws, 'n.ipynb')])
        .toString()
        .trim(),
    ).toBe('600');
    expect(await code(files.writeFileAtomic('deep/er/n.ipynb', 'x'))).toBe('notebook_not_found');
    await files.writeFileAtomic('deep/er/n.ipynb', 'x', { createParents: true });
    expect(readFileSync(join(ws, 'deep/er/n.ipynb'), 'utf8')).toBe('x');
    expect(readdirSync(ws).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a symlink at the name, never writes through it', async () => {
    symlinkSync(join(outside, 'secret.json'), join(ws, 'n.ipynb'));
    await files.writeFileAtomic('n.ipynb', 'mine');
    expect(readFileSync(join(outside, 'secret.json'), 'utf8')).toBe('{"secret": "s3cr3t"}');
    expect(readFileSync(join(ws, 'n.ipynb'), 'utf8')).toBe('mine');
  });

  it('refuses to write through a symlinked directory or over a directory or FIFO', async () => {
    symlinkSync(outside, join(ws, 'sub'));
    expect(await code(files.writeFileAtomic('sub/n.ipynb', 'x'))).toBe('workspace_file_unsafe');
    expect(await code(files.writeFileAtomic('sub/n.ipynb', 'x', { createParents: true }))).toBe(
      'workspace_file_unsafe',
    );
    mkdirSync(join(ws, 'd.ipynb'));
    expect(await code(files.writeFileAtomic('d.ipynb', 'x'))).toBe('workspace_file_unsafe');
    execFileSync('mkfifo', [join(ws, 'f.ipynb')]);
    expect(await code(files.writeFileAtomic('f.ipynb', 'x'))).toBe('workspace_file_unsafe');
    expect(readdirSync(outside)).toEqual(['secret.json']);
  });

  // Finding 3: a process in the workspace swaps `sub` between a real dir and a symlink to a dir
  // outside while writes run. Not one byte may land outside, and no temp file may stay behind.
  it('never writes outside while another process swaps a directory for a symlink', async () => {
    mkdirSync(join(ws, 'sub'));
    writeFileSync(join(ws, 'sub', 'n.ipynb'), '{}');
    symlinkSync(outside, join(ws, 'sub.link'));
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
        ws,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let ready = '';
      swapper.stdout?.on('data', (chunk: Buffer) => {
        ready += chunk.toString();
      });
      await until(() => ready.includes('ready'), 10_000);
      const outcomes = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        for (const path of ['sub/n.ipynb', 'sub.real/n.ipynb']) {
          const result = await code(files.writeFileAtomic(path, `{"round": ${i}}`));
          outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
        }
      }
      // Some writes landed (in the real dir, under whichever name it had) and some were refused.
      expect(outcomes.get('ok') ?? 0).toBeGreaterThan(0);
      for (const key of outcomes.keys())
        expect(['ok', 'workspace_file_unsafe', 'notebook_not_found']).toContain(key);
    } finally {
      swapper.kill('SIGKILL');
    }
    expect(readdirSync(outside)).toEqual(['secret.json']);
    const real = readdirSync(ws).includes('sub.real') ? 'sub.real' : 'sub';
    expect(readdirSync(join(ws, real)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('removes only its own stale temp files for a notebook (finding 10)', async () => {
    mkdirSync(join(ws, 'sub'));
    const names = [
      '.k0.ipynb.0123abcd.tmp',
      '.k0.ipynb.deadbeef.tmp',
      '.k1.ipynb.0123abcd.tmp',
      '.k0.ipynb.notahex1.tmp',
      'k0.ipynb',
      'notes.tmp',
    ];
    for (const name of names) writeFileSync(join(ws, 'sub', name), 'x');
    symlinkSync(join(outside, 'secret.json'), join(ws, 'sub', '.k0.ipynb.feedface.tmp'));
    expect(await files.removeStaleTemps('sub/k0.ipynb')).toBe(3);
    expect(readdirSync(join(ws, 'sub')).sort()).toEqual(
      ['.k0.ipynb.notahex1.tmp', '.k1.ipynb.0123abcd.tmp', 'k0.ipynb', 'notes.tmp'].sort(),
    );
    expect(readFileSync(join(outside, 'secret.json'), 'utf8')).toContain('s3cr3t');
  });
});

describe('workspaceEnvFs (environment detection)', () => {
  it('does not see a symlinked project file, nor anything outside the workspace', async () => {
    const envFs = workspaceEnvFs(files);
    writeFileSync(join(outside, 'pyproject.toml'), '[project]\nname = "x"\n');
    symlinkSync(join(outside, 'pyproject.toml'), join(ws, 'pyproject.toml'));
    expect(await envFs.stat(join(ws, 'pyproject.toml'))).toMatchObject({ kind: 'other' });
    expect(await envFs.stat(join(outside, 'pyproject.toml'))).toBeNull();
    await expect(envFs.readFile(join(ws, 'pyproject.toml'), 1024)).rejects.toMatchObject({
      code: 'workspace_file_unsafe',
    });
    rmSync(join(ws, 'pyproject.toml'));
    writeFileSync(join(ws, 'pyproject.toml'), 'x');
    expect(await envFs.stat(join(ws, 'pyproject.toml'))).toEqual({ kind: 'file', size: 1 });
  });
});
