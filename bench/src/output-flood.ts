// Issue 15 finding 6: the workspace server's memory under output floods. Starts the real
// `runyard serve` (real ipykernel under /usr/bin/python3), runs each flood through REST and
// reports the server process's RSS and its peak (VmHWM from /proc, so no sampling is missed),
// the REST body size and whether the notebook still answers. Usage:
//   pnpm --filter @runyard/bench exec node --import tsx src/output-flood.ts
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const appDir = fileURLToPath(new URL('../../apps/workspace-server/', import.meta.url));
const cli = join(appDir, 'src', 'cli.ts');
const MiB = 1024 * 1024;

const FLOODS: { name: string; code: string }[] = [
  {
    name: '500 MB in 10 MB flushed writes',
    code: 'import sys\nc = "x" * 10_000_000\nfor _ in range(50):\n    sys.stdout.write(c); sys.stdout.flush()',
  },
  { name: 'one 200 MB print', code: 'print("y" * 200_000_000)' },
  {
    name: '500 MB of 1 KB print() lines',
    code: 'line = "z" * 1023\nfor _ in range(500_000):\n    print(line)',
  },
  {
    name: '2,000 display_data of 100 KB',
    code: 'from IPython.display import display, HTML\nh = HTML("<b>" + "w" * 100_000 + "</b>")\nfor _ in range(2000):\n    display(h)',
  },
];

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: (kb('VmRSS') * 1024) / MiB, peak: (kb('VmHWM') * 1024) / MiB };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'runyard-flood-'));
  for (const sub of ['workspace', 'data', 'cache', 'config', 'skills']) mkdirSync(join(root, sub));
  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'serve',
      '--port',
      '0',
      '--log-level',
      'warn',
      '--kernel-pool',
      '0',
      '--env-pool',
      '0',
      '--python',
      '/usr/bin/python3',
      '--workspace',
      join(root, 'workspace'),
      '--data-dir',
      join(root, 'data'),
      '--cache-dir',
      join(root, 'cache'),
      '--config-dir',
      join(root, 'config'),
      '--skills-root',
      join(root, 'skills'),
    ],
    {
      cwd: appDir,
      env: { PATH: process.env.PATH, HOME: root },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Python:')) resolve();
      });
      server.once('exit', () => reject(new Error(`server exited: ${stdout}`)));
    });
    const url = /Runyard listening on (\S+)/.exec(stdout)?.[1] ?? '';
    const token = readFileSync(join(root, 'data', 'token'), 'utf8').trim();
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, text: await response.text() };
    };
    const created = JSON.parse((await post('/api/notebooks', { path: 'flood.ipynb' })).text) as {
      notebookId: string;
    };
    const pid = server.pid as number;
    const start = memory(pid);
    console.log(
      `server after start: RSS ${start.rss.toFixed(0)} MiB (peak ${start.peak.toFixed(0)} MiB)`,
    );
    console.log(
      '| flood | REST body | truncated | server RSS after | server peak RSS | next execute |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const flood of FLOODS) {
      const result = await post(`/api/notebooks/${created.notebookId}/execute`, {
        code: flood.code,
      });
      const parsed = JSON.parse(result.text) as { truncated?: Record<string, number> };
      const next = await post(`/api/notebooks/${created.notebookId}/execute`, { code: '6 * 7' });
      const after = memory(pid);
      const t = parsed.truncated;
      console.log(
        `| ${flood.name} | ${(result.text.length / MiB).toFixed(2)} MiB (${result.status}) | ${
          t
            ? `${((t.droppedBytes ?? 0) / MiB).toFixed(0)} MiB dropped, ${t.refusedMessages} refused`
            : 'no'
        } | ${after.rss.toFixed(0)} MiB | ${after.peak.toFixed(0)} MiB | ${next.text.includes('42') ? 'ok' : next.text.slice(0, 80)} |`,
      );
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
