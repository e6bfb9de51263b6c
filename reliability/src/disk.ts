// Part 4: a full disk and a damaged database. A small tmpfs holds the workspace and the data
// dir; once it is full, writes must fail with a typed error (not 500), lose nothing already
// written, and work again once space is back. A damaged runyard.db must stop the server with
// a clear message naming the recovery, not a stack trace or a crash loop.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { echoBundle, integrityOk } from './crash.js';
import { api, apiOk } from './http.js';
import { type PartResult, type Row, row } from './report.js';
import type { Context } from './run.js';
import {
  makeDirs,
  newToken,
  processesMentioning,
  StartFailed,
  sleep,
  startServer,
} from './server.js';

const PART = 'disk';

/** Writes zeros into `file` until the filesystem refuses (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // The last partial page too.
  try {
    const small = openSync(`${file}.2`, 'w');
    try {
      for (;;) writeSync(small, Buffer.alloc(512));
    } finally {
      closeSync(small);
    }
  } catch {
    // full
  }
}

function bundle(k: number) {
  return echoBundle(`ws-1.disk${k}`, String(k));
}

async function diskFull(
  ctx: Context,
  rows: Row[],
  examples: { kind: string; detail: string }[],
): Promise<void> {
  const root = ctx.tempDir('disk');
  const mount = join(root, 'fs');
  mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount]);
  } catch (error) {
    rows.push(
      row(
        PART,
        'disk full (tmpfs)',
        'not run',
        'info',
        `mount failed (needs root): ${(error as Error).message.slice(0, 100)}`,
      ),
    );
    return;
  }
  try {
    const dirs = makeDirs(root, { workspace: join(mount, 'ws'), dataDir: join(mount, 'data') });
    const server = await startServer(dirs, newToken());
    try {
      const nb = await apiOk<{ notebookId: string }>(server, 'POST', '/api/notebooks', {
        path: 'keep.ipynb',
      });
      await apiOk(server, 'POST', `/api/notebooks/${nb.notebookId}/dependencies`, {
        add: ['before-full'],
        apply: 'none',
      });
      await apiOk(server, 'POST', '/api/runtimes/local/config-bundles', { bundle: bundle(0) });
      fill(join(mount, 'filler'));
      const attempts: [string, () => Promise<{ status: number; body: unknown }>][] = [
        [
          'notebook write (dependency edit)',
          () =>
            api(server, 'POST', `/api/notebooks/${nb.notebookId}/dependencies`, {
              add: ['after-full'],
              apply: 'none',
            }),
        ],
        ['notebook create', () => api(server, 'POST', '/api/notebooks', { path: 'new.ipynb' })],
        [
          'bundle store (SQLite)',
          () => api(server, 'POST', '/api/runtimes/local/config-bundles', { bundle: bundle(1) }),
        ],
        [
          'dependency approval (SQLite)',
          () => api(server, 'POST', '/api/notebooks/open', { path: 'keep.ipynb' }),
        ],
      ];
      for (const [what, call] of attempts) {
        const res = await call();
        const code = (res.body as { error?: { code?: string } }).error?.code ?? '(none)';
        const typed = res.status >= 400 && res.status < 500 ? true : res.status === 507;
        const verdict = res.status < 300 ? 'info' : typed ? 'pass' : 'finding';
        rows.push(
          row(
            PART,
            `full disk: ${what}`,
            `${res.status} ${code}`,
            verdict,
            verdict === 'finding' ? 'wanted a typed disk_full error' : undefined,
          ),
        );
        if (verdict === 'finding')
          examples.push({
            kind: `disk full ${what}`,
            detail: JSON.stringify(res.body).slice(0, 300),
          });
      }
      const text = readFileSync(join(dirs.workspace, 'keep.ipynb'), 'utf8');
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      rows.push(
        row(
          PART,
          'full disk: notebook still valid with its earlier edit',
          valid && text.includes('before-full') ? 'yes' : 'no',
          valid && text.includes('before-full') ? 'pass' : 'fail',
        ),
      );
      rows.push(
        row(
          PART,
          'full disk: server alive, /healthz',
          server.alive() ? (await api(server, 'GET', '/healthz')).status : 'dead',
          server.alive() ? 'pass' : 'fail',
        ),
      );
      execFileSync('rm', ['-f', join(mount, 'filler'), join(mount, 'filler.2')]);
      const again = await api(server, 'POST', `/api/notebooks/${nb.notebookId}/dependencies`, {
        add: ['after-space'],
        apply: 'none',
      });
      rows.push(
        row(
          PART,
          'space back: the same edit succeeds without a restart',
          again.status,
          again.status === 200 ? 'pass' : 'fail',
        ),
      );
      const litter = execFileSync('ls', ['-a', dirs.workspace])
        .toString()
        .split('\n')
        .filter((n) => /\.tmp/.test(n));
      rows.push(
        row(
          PART,
          'full disk: temp files left in the workspace',
          litter.length,
          litter.length === 0 ? 'pass' : 'finding',
          litter.slice(0, 3).join(', '),
        ),
      );
    } finally {
      await server.stop();
    }
    const integrity = integrityOk(join(mount, 'data', 'runyard.db'));
    rows.push(
      row(
        PART,
        'full disk: runyard.db integrity_check',
        integrity,
        integrity === 'ok' ? 'pass' : 'fail',
      ),
    );
  } finally {
    for (const p of processesMentioning(root)) process.kill(p.pid, 'SIGKILL');
    await sleep(200);
    try {
      execFileSync('umount', [mount]);
    } catch {
      execFileSync('umount', ['-l', mount]);
    }
  }
}

const DAMAGE: [string, (file: string) => void][] = [
  [
    'truncated to half',
    (f) => writeFileSync(f, readFileSync(f).subarray(0, Math.floor(readFileSync(f).length / 2))),
  ],
  [
    'pages overwritten with garbage',
    (f) => {
      const bytes = readFileSync(f);
      for (let i = 4096; i < bytes.length; i += 97) bytes[i] = (i * 31) & 0xff;
      writeFileSync(f, bytes);
    },
  ],
  [
    'header overwritten',
    (f) => {
      const bytes = readFileSync(f);
      bytes.write('this is not a database', 0);
      writeFileSync(f, bytes);
    },
  ],
  ['empty file', (f) => writeFileSync(f, '')],
];

async function damagedDb(
  ctx: Context,
  rows: Row[],
  examples: { kind: string; detail: string }[],
): Promise<void> {
  for (const [how, damage] of ctx.smoke ? DAMAGE.slice(0, 2) : DAMAGE) {
    const root = ctx.tempDir('db');
    const dirs = makeDirs(root);
    const token = newToken();
    const server = await startServer(dirs, token);
    await apiOk(server, 'POST', '/api/runtimes/local/config-bundles', { bundle: bundle(0) });
    await server.stop();
    const file = join(dirs.dataDir, 'runyard.db');
    for (const side of ['-wal', '-shm'])
      if (existsSync(file + side)) writeFileSync(file + side, '');
    damage(file);
    let outcome: string;
    let verdict: Row['verdict'];
    let note = '';
    try {
      const started = await startServer(dirs, token);
      // It started: the damage went unnoticed until used. Use it.
      const res = await api(
        started,
        'GET',
        `/api/runtimes/local/config-bundles/ws-1.disk0/availability?digest=${'0'.repeat(64)}`,
      );
      outcome = `started; a read answered ${res.status}`;
      verdict = res.status >= 500 ? 'finding' : 'info';
      note = JSON.stringify(res.body).slice(0, 120);
      await started.stop();
    } catch (error) {
      const output = error instanceof StartFailed ? error.output : String(error);
      const message = output
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(-3)
        .join(' ')
        .slice(0, 240);
      const namesRecovery = /restore|backup|move|rename|remove|delete|recover/i.test(output);
      const stack = /\n\s+at .+:\d+:\d+/.test(output);
      outcome = `refused to start (exit ${error instanceof StartFailed ? error.code : '?'})`;
      verdict = namesRecovery && !stack ? 'pass' : 'finding';
      note = `${namesRecovery ? 'names a recovery' : 'no recovery named'}${stack ? ', prints a stack' : ''}: ${message}`;
      if (verdict === 'finding')
        examples.push({ kind: `damaged db ${how}`, detail: output.slice(-600) });
    }
    rows.push(row(PART, `damaged runyard.db (${how})`, outcome, verdict, note));
  }
}

export async function diskPart(ctx: Context): Promise<PartResult> {
  const rows: Row[] = [];
  const examples: { kind: string; detail: string }[] = [];
  await diskFull(ctx, rows, examples);
  await damagedDb(ctx, rows, examples);
  return { part: PART, rows, examples };
}
