import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelClient } from './client.js';
import { isKernelError } from './errors.js';
import { findKernelspecs } from './kernelspec.js';
import { ipykernelArgv, launchKernel } from './launch.js';
import type { NotebookOutput } from './outputs.js';
import {
  bareVenv,
  processesMentioning,
  rejection,
  removeRoot,
  SYSTEM_PYTHON,
  tempRoot,
} from './test-support/helpers.js';

const root = tempRoot('kernel');
// A host secret: kernels launched without an explicit env must not see it.
process.env.RUNYARD_SECRET_X = 'host-secret-value';
process.env.RUNYARD_TOKEN = 'host-api-token';
const runtimeDir = join(root, 'rt');
let kernel: KernelClient;
const clients: KernelClient[] = [];

beforeAll(async () => {
  // The real kernelspec Debian ships, found through discovery rather than hard-coded argv.
  const spec = findKernelspecs({ dataDirs: ['/usr/share/jupyter'] }).find(
    (s) => s.name === 'python3',
  );
  expect(spec?.argv[0]).toBe(SYSTEM_PYTHON);
  kernel = await launchKernel({ kernelspec: spec, runtimeDir, cwd: root });
  clients.push(kernel);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.shutdown()));
  // Nothing this suite started may outlive it.
  expect(processesMentioning(root)).toEqual([]);
  removeRoot(root);
  delete process.env.RUNYARD_SECRET_X;
  delete process.env.RUNYARD_TOKEN;
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Bounded wait for a process to be gone (an event, not a timing assertion). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

const SPAWN_SLEEP =
  'import subprocess\nchild = subprocess.Popen(["sleep", "300"])\nprint(child.pid)';

describe('launch', () => {
  it('writes an owner-only connection file and proves the kernel ready', () => {
    expect(kernel.status).not.toBe('dead');
    expect(kernel.cachedKernelInfo?.languageInfo.name).toBe('python');
    expect(kernel.cachedKernelInfo?.protocolVersion.startsWith('5.')).toBe(true);
    expect(processesMentioning(root)).toContain(kernel.pid);
    const connection = readdirSync(runtimeDir).filter((name: string) => name.endsWith('.json'));
    expect(connection).toHaveLength(1);
    expect(statSync(join(runtimeDir, connection[0] as string)).mode & 0o777).toBe(0o600);
    expect(statSync(runtimeDir).mode & 0o777).toBe(0o700);
  });

  it('classifies an interpreter without ipykernel as missing_ipykernel', async () => {
    const python = bareVenv(join(root, 'bare'));
    const error = await rejection(launchKernel({ argv: ipykernelArgv(python), runtimeDir }));
    expect(error.code).toBe('missing_ipykernel');
    expect(error.details.exitCode).toBe(1);
    expect(error.details.stderrTail?.join('\n')).toMatch(/ipykernel/);
    expect(error.message).not.toContain(root);
  });

  it('classifies an early exit with its exit code and stderr tail, and a start timeout', async () => {
    const exited = await rejection(
      launchKernel({
        argv: [
          SYSTEM_PYTHON,
          '-c',
          'import sys\nfor i in range(80): print("line", i, file=sys.stderr)\nsys.exit(3)',
        ],
        runtimeDir,
      }),
    );
    expect(exited.code).toBe('kernel_exited');
    expect(exited.details.exitCode).toBe(3);
    expect(exited.details.stderrTail).toHaveLength(50);
    expect(exited.details.stderrTail?.at(-1)).toBe('line 79');

    const timeout = await rejection(
      launchKernel({
        argv: [SYSTEM_PYTHON, '-c', 'import time; time.sleep(30)', '{connection_file}'],
        runtimeDir,
        startupTimeoutMs: 300,
      }),
    );
    expect(timeout.code).toBe('kernel_start_timeout');
    expect(isKernelError(timeout, 'kernel_start_timeout')).toBe(true);
  });
});

describe('execute', () => {
  it('returns every output type in nbformat shape', async () => {
    const streamed: NotebookOutput[] = [];
    const result = await kernel.execute(
      [
        'import sys',
        'from IPython.display import display, HTML',
        'print("out")',
        'print("err", file=sys.stderr)',
        'display(HTML("<b>hi</b>"))',
        '6 * 7',
      ].join('\n'),
      { onOutput: (output) => streamed.push(output) },
    );
    expect(result.status).toBe('ok');
    expect(result.executionCount).toBeGreaterThan(0);
    expect(result.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'out\n' },
      { output_type: 'stream', name: 'stderr', text: 'err\n' },
      {
        output_type: 'display_data',
        data: expect.objectContaining({ 'text/html': '<b>hi</b>' }),
        metadata: {},
      },
      {
        output_type: 'execute_result',
        execution_count: result.executionCount,
        data: { 'text/plain': '42' },
        metadata: {},
      },
    ]);
    expect(streamed.map((o) => o.output_type)).toEqual([
      'stream',
      'stream',
      'display_data',
      'execute_result',
    ]);
  });

  it("returns an exception's traceback as an error output", async () => {
    const result = await kernel.execute('def f():\n    raise ValueError("bad value")\nf()');
    expect(result.status).toBe('error');
    expect(result.error?.ename).toBe('ValueError');
    expect(result.error?.evalue).toBe('bad value');
    const error = result.outputs.find((o) => o.output_type === 'error');
    expect(
      error?.output_type === 'error' && error.traceback.join('\n').replace(/\u001b\[[0-9;]*m/g, ''),
    ).toMatch(/raise ValueError/);
  });

  it('answers input_request: with the handler, and with "" when there is none', async () => {
    const answered = await kernel.execute('print(input("name? ") + "!")', {
      onInput: ({ prompt }) => `bob(${prompt})`,
    });
    expect(answered.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'bob(name? )!\n' },
    ]);
    const unanswered = await kernel.execute('print(repr(input("x")))', { allowStdin: true });
    expect(unanswered.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: "''\n" }]);
  });

  it('runs 20 concurrent executes in call order', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => kernel.execute(`print(${i})`)),
    );
    expect(results.map((r) => (r.outputs[0] as { text: string }).text)).toEqual(
      Array.from({ length: 20 }, (_, i) => `${i}\n`),
    );
    const counts = results.map((r) => r.executionCount as number);
    expect(counts.every((count, i) => i === 0 || count === (counts[i - 1] as number) + 1)).toBe(
      true,
    );
  });

  it('interrupts time.sleep(30) with SIGINT and by interrupt_request', async () => {
    const started = (marker: string) => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return {
        promise,
        onOutput: (o: NotebookOutput) =>
          o.output_type === 'stream' && o.text.includes(marker) && resolve(),
      };
    };
    const a = started('sleeping-a');
    const bySignal = kernel.execute(
      'import time\nprint("sleeping-a", flush=True)\ntime.sleep(30)',
      { onOutput: a.onOutput },
    );
    await a.promise;
    await kernel.interrupt();
    const signalled = await bySignal;
    expect(signalled.status).toBe('error');
    expect(signalled.error?.ename).toBe('KeyboardInterrupt');

    // A second client on the same kernel, as a remote frontend would be: message mode.
    const remote = await KernelClient.connect(kernel.connection, { heartbeatTimeoutMs: 0 });
    try {
      expect(remote.interruptMode).toBe('message');
      const b = started('sleeping-b');
      const byMessage = kernel.execute('print("sleeping-b", flush=True)\ntime.sleep(30)', {
        onOutput: b.onOutput,
      });
      await b.promise;
      await remote.interrupt();
      expect((await byMessage).error?.ename).toBe('KeyboardInterrupt');
    } finally {
      await remote.close();
    }
  });

  it('times out and cancels with typed errors, and the kernel stays usable', async () => {
    const timedOut = await rejection(
      kernel.execute('import time\nprint("t", flush=True)\ntime.sleep(30)', { timeoutMs: 500 }),
    );
    expect(timedOut.code).toBe('execute_timeout');
    const controller = new AbortController();
    controller.abort();
    expect((await rejection(kernel.execute('1', { signal: controller.signal }))).code).toBe(
      'execute_cancelled',
    );
    const after = await kernel.execute('1 + 1');
    expect(after.status).toBe('ok');
  });

  it('restart keeps the client usable with fresh state', async () => {
    await kernel.execute('survivor = 1');
    const oldPid = kernel.pid;
    const statuses: string[] = [];
    const off = kernel.on('status', (s) => statuses.push(s));
    await kernel.restart();
    off();
    expect(statuses[0]).toBe('starting');
    expect(kernel.pid).not.toBe(oldPid);
    expect(processesMentioning(root)).not.toContain(oldPid);
    const gone = await kernel.execute('survivor');
    expect(gone.error?.ename).toBe('NameError');
    const ok = await kernel.execute('2 + 2');
    expect(ok.outputs).toEqual([expect.objectContaining({ data: { 'text/plain': '4' } })]);
  });
});

describe('after an error', () => {
  it('the next execute runs and returns its outputs (ipykernel would abort it with stop_on_error)', async () => {
    // ipykernel aborts execute requests for stop_on_error_timeout after a failed cell (default 0 s,
    // i.e. until its deferred callback runs, which under load can be after the client saw the
    // failed cell's idle and sent the next one). A wide window makes that race deterministic.
    const strict = await launchKernel({
      argv: [...ipykernelArgv(SYSTEM_PYTHON), '--IPythonKernel.stop_on_error_timeout=600'],
      runtimeDir: join(root, 'strict'),
      client: { heartbeatTimeoutMs: 0 },
    });
    clients.push(strict);
    const failed = await strict.execute('1 / 0');
    expect(failed.error?.ename).toBe('ZeroDivisionError');
    const next = await strict.execute('2 + 2');
    expect(next.status).toBe('ok');
    expect(next.outputs).toEqual([expect.objectContaining({ data: { 'text/plain': '4' } })]);
    await strict.shutdown();
  });
});

describe('wrapCommand', () => {
  it('spawns the wrapped command on every start, with the connection file it wrote', async () => {
    const seen: string[] = [];
    const wrapped = await launchKernel({
      argv: ipykernelArgv(SYSTEM_PYTHON),
      runtimeDir: join(root, 'wrap'),
      transport: 'ipc',
      // A stand-in for a sandbox launcher: env(1) in front of the kernel command.
      wrapCommand: (argv, context) => {
        seen.push(context.connectionFile);
        expect(argv).toContain(context.connectionFile);
        expect(context.connection.transport).toBe('ipc');
        return ['/usr/bin/env', `RUNYARD_WRAPPED=${seen.length}`, ...argv];
      },
    });
    clients.push(wrapped);
    const first = await wrapped.execute('import os; print(os.environ["RUNYARD_WRAPPED"])');
    expect(first.outputs).toEqual([expect.objectContaining({ text: '1\n' })]);
    await wrapped.restart();
    const second = await wrapped.execute('import os; print(os.environ["RUNYARD_WRAPPED"])');
    expect(second.outputs).toEqual([expect.objectContaining({ text: '2\n' })]);
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
  });
});

describe('isolation from the host', () => {
  it('a kernel without an explicit env cannot see RUNYARD_* variables but keeps PATH and HOME', async () => {
    const probe = await kernel.execute(
      'import os\nprint(os.environ.get("RUNYARD_SECRET_X"), os.environ.get("RUNYARD_TOKEN"), "PATH" in os.environ, os.environ.get("HOME") == HOME_EXPECTED)'.replace(
        'HOME_EXPECTED',
        JSON.stringify(process.env.HOME ?? ''),
      ),
    );
    expect(probe.outputs).toEqual([
      expect.objectContaining({ name: 'stdout', text: 'None None True True\n' }),
    ]);
  });

  it('processes started by kernel code die with the kernel: shutdown and os._exit', async () => {
    // An explicit env wins entirely, RUNYARD_* included.
    const graceful = await launchKernel({
      argv: ipykernelArgv(SYSTEM_PYTHON),
      runtimeDir: join(root, 'grp'),
      env: { ...process.env },
    });
    clients.push(graceful);
    const seen = await graceful.execute('import os\nprint(os.environ.get("RUNYARD_SECRET_X"))');
    expect(seen.outputs).toEqual([expect.objectContaining({ text: 'host-secret-value\n' })]);
    const started = await graceful.execute(SPAWN_SLEEP);
    const sleepPid = Number((started.outputs[0] as { text: string }).text.trim());
    expect(alive(sleepPid)).toBe(true);
    await graceful.shutdown();
    expect(await gone(sleepPid)).toBe(true);

    const crashing = await launchKernel({
      argv: ipykernelArgv(SYSTEM_PYTHON),
      runtimeDir: join(root, 'grp'),
      client: { heartbeatTimeoutMs: 0 },
    });
    clients.push(crashing);
    const spawned = await crashing.execute(SPAWN_SLEEP);
    const orphanPid = Number((spawned.outputs[0] as { text: string }).text.trim());
    expect(alive(orphanPid)).toBe(true);
    await rejection(crashing.execute('import os\nos._exit(1)'));
    expect(await gone(orphanPid)).toBe(true);
  });
});

describe('kernel death', () => {
  it('os._exit mid-execute rejects with kernel_dead and reports dead (ipc transport)', async () => {
    const doomed = await launchKernel({
      argv: ipykernelArgv(SYSTEM_PYTHON),
      runtimeDir: join(root, 'ipc'),
      transport: 'ipc',
      // Heartbeat off: only the process-exit path can mark this kernel dead.
      client: { heartbeatTimeoutMs: 0 },
    });
    clients.push(doomed);
    expect(doomed.connection.transport).toBe('ipc');
    const dead = doomed.waitForStatus('dead');
    const error = await rejection(
      doomed.execute('import os\nprint("bye", flush=True)\nos._exit(1)'),
    );
    expect(error.code).toBe('kernel_dead');
    expect(error.details.exitCode).toBe(1);
    await dead;
    expect(doomed.status).toBe('dead');
    expect(doomed.alive).toBe(false);
    // Its connection file and sockets are gone with it.
    expect(readdirSync(join(root, 'ipc'))).toEqual([]);
    expect((await rejection(doomed.execute('1'))).code).toBe('kernel_dead');
  });

  it('shutdown is graceful and removes the connection file', async () => {
    const extra = await launchKernel({
      argv: ipykernelArgv(SYSTEM_PYTHON),
      runtimeDir: join(root, 'sd'),
    });
    clients.push(extra);
    const pid = extra.pid;
    await extra.shutdown();
    expect(extra.status).toBe('dead');
    expect(processesMentioning(root)).not.toContain(pid);
    expect(existsSync(join(root, 'sd')) ? readdirSync(join(root, 'sd')) : []).toEqual([]);
  });
});
