import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { until } from '@runyard/testing';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { buildBwrapArgv, detectBubblewrap } from './bwrap.js';
import { type ProcReader, stopBubblewrap } from './stop.js';

const detection = detectBubblewrap();

function needBwrap(ctx: TestContext): string {
  if (!detection.available || !detection.path) {
    ctx.skip(`bubblewrap unusable on this machine: ${detection.reason ?? 'unknown'}`);
  }
  return detection.path as string;
}

/** Pids (not this process) whose command line mentions `marker`. */
function mentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Launched {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the launcher exited and every holder of its stdout/stderr closed them. */
  closed: Promise<void>;
  /** Lets a sandbox held at `--block-fd` finish its setup. */
  release: () => void;
}

const markers: string[] = [];
/** Keeps `sh` (whose $0 is the marker) in the foreground, so /proc shows it. */
const LOOP = 'echo ready; while :; do sleep 0.05; done';

/**
 * A sandbox like a command worker's (detached launcher, piped output). With `blocked` bwrap
 * holds its pid-namespace init at `--block-fd`: after the clone, before setsid and before the
 * init's die-with-parent prctl. That is the window a stop racing a fresh worker can hit.
 */
function launch(bwrap: string, script: string, marker: string, blocked = false): Launched {
  const argv = buildBwrapArgv({
    command: ['/bin/sh', '-c', script, marker],
    network: 'none',
    env: { PATH: '/usr/bin:/bin' },
    bwrapPath: bwrap,
  });
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, blocked ? ['--block-fd', '3', ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let text = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    text += chunk;
  });
  child.stderr?.resume();
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const control = child.stdio[3] as Writable;
  control.on('error', () => undefined);
  return {
    child,
    output: () => text,
    closed,
    release: () => control.end('x'),
  };
}

/** The launcher's child: bwrap's pid-namespace init. */
function initOf(pid: number): number | undefined {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? Number(text.split(/\s+/)[0]) : undefined;
}

/**
 * The init of a `--block-fd` sandbox waits at that fd: bwrap drops the init's capabilities (it
 * has all of them in its user namespace until then) right before reading it.
 */
function heldAtBlockFd(pid: number): number | undefined {
  const init = initOf(pid);
  if (init === undefined) return undefined;
  const status = readFileSync(`/proc/${init}/status`, 'utf8');
  return /^CapEff:\s*0+$/m.test(status) ? init : undefined;
}

afterEach(() => {
  for (const marker of markers.splice(0)) {
    for (const pid of mentioning(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

describe('stopBubblewrap (real bwrap)', () => {
  it('signalling only the launcher of a sandbox still in setup orphans it (why stopBubblewrap exists)', async (ctx) => {
    const bwrap = needBwrap(ctx);
    const marker = `runyard-stop-${randomUUID()}`;
    markers.push(marker);
    const sandbox = launch(bwrap, LOOP, marker, true);
    const pid = sandbox.child.pid as number;
    await until(() => heldAtBlockFd(pid) !== undefined);
    const init = heldAtBlockFd(pid) as number;
    // What a plain stop did: SIGTERM to the launcher's process group, SIGKILL a bit later.
    process.kill(-pid, 'SIGTERM');
    await new Promise<void>((resolve) => sandbox.child.once('exit', () => resolve()));
    sandbox.release();
    await until(() => sandbox.output().includes('ready'));
    // The init survived its launcher, left the group (setsid) and runs the command, holding
    // the launcher's output pipes: the launcher's 'close' never comes.
    expect(mentioning(marker)).toContain(init);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is empty: the sandbox is in a session of its own
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(mentioning(marker)).toContain(init);
    process.kill(init, 'SIGKILL');
    await sandbox.closed;
    await until(() => mentioning(marker).length === 0);
  });

  it('stops a sandbox held in setup: its pid namespace dies and the output pipes close', async (ctx) => {
    const bwrap = needBwrap(ctx);
    const marker = `runyard-stop-${randomUUID()}`;
    markers.push(marker);
    const sandbox = launch(bwrap, LOOP, marker, true);
    const pid = sandbox.child.pid as number;
    await until(() => heldAtBlockFd(pid) !== undefined);
    await stopBubblewrap(pid, { graceMs: 5000 });
    // Released only now: a surviving init would go on to run the command.
    sandbox.release();
    await sandbox.closed;
    expect(sandbox.output()).not.toContain('ready');
    expect(sandbox.child.signalCode).toBe('SIGKILL');
    await until(() => mentioning(marker).length === 0);
  });

  it('a running sandbox gets SIGTERM first, so its command can exit cleanly', async (ctx) => {
    const bwrap = needBwrap(ctx);
    const marker = `runyard-stop-${randomUUID()}`;
    markers.push(marker);
    const sandbox = launch(
      bwrap,
      "trap 'echo terminated; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
      marker,
    );
    await until(() => sandbox.output().includes('ready'));
    await stopBubblewrap(sandbox.child.pid as number, { graceMs: 20_000 });
    await sandbox.closed;
    expect(sandbox.output()).toContain('terminated');
    await until(() => mentioning(marker).length === 0);
  });

  it('a command that ignores SIGTERM is killed after the grace period', async (ctx) => {
    const bwrap = needBwrap(ctx);
    const marker = `runyard-stop-${randomUUID()}`;
    markers.push(marker);
    const sandbox = launch(bwrap, `trap '' TERM; ${LOOP}`, marker);
    await until(() => sandbox.output().includes('ready'));
    await stopBubblewrap(sandbox.child.pid as number, { graceMs: 100 });
    await sandbox.closed;
    await until(() => mentioning(marker).length === 0);
  });
});

describe('stopBubblewrap (signals, with a fake /proc)', () => {
  const fake = (states: Map<number, string>, children: number[]): ProcReader => ({
    state: (pid) => states.get(pid),
    children: () => children,
  });

  /** Launcher 100 already stopped, its sandbox init 101 asleep. */
  const stoppedLauncher = () =>
    new Map([
      [100, 'T'],
      [101, 'S'],
    ]);

  it('stops the launcher, asks the sandbox session to end, then kills the init and the launcher', async () => {
    const sent: string[] = [];
    const states = stoppedLauncher();
    await stopBubblewrap(100, {
      graceMs: 1000,
      pollMs: 1,
      proc: fake(states, [101]),
      kill: (pid, signal) => {
        sent.push(`${signal} ${pid}`);
        // The command exits on SIGTERM; the init follows and stays a zombie (launcher stopped).
        if (pid === -101 && signal === 'SIGTERM') states.set(101, 'Z');
      },
    });
    expect(sent).toEqual(['SIGSTOP 100', 'SIGTERM -101', 'SIGKILL 101', 'SIGKILL -100']);
  });

  it('a launcher that is already gone is left alone', async () => {
    const sent: string[] = [];
    await stopBubblewrap(100, {
      graceMs: 1000,
      proc: fake(new Map(), []),
      kill: (pid, signal) => {
        sent.push(`${signal} ${pid}`);
        throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
      },
    });
    expect(sent).toEqual(['SIGSTOP 100']);
  });

  it('an init that has not formed its session yet is killed without waiting', async () => {
    const sent: string[] = [];
    const states = stoppedLauncher();
    await stopBubblewrap(100, {
      // Would time the test out if it were waited for.
      graceMs: 60_000,
      pollMs: 1,
      proc: fake(states, [101]),
      kill: (pid, signal) => {
        sent.push(`${signal} ${pid}`);
        if (pid === -101) throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
      },
    });
    expect(sent).toEqual(['SIGSTOP 100', 'SIGTERM -101', 'SIGKILL 101', 'SIGKILL -100']);
  });
});
