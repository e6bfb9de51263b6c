import { type ChildProcess, spawn } from 'node:child_process';
import { until } from './until.js';

/** A Node child process whose stdout and stderr are collected as they arrive. */
export interface CollectedProcess {
  proc: ChildProcess;
  /** Everything the child wrote to stdout so far. */
  stdout: string;
  /** Everything the child wrote to stderr so far. */
  stderr: string;
  /** The child's exit code (`null` when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Runs `node <args>` with stdin closed and both output streams collected: how a test drives a
 * real `runyard serve` (or `runyard runtime serve`) process.
 */
export function spawnNode(
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): CollectedProcess {
  const proc = spawn(process.execPath, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const collected: CollectedProcess = {
    proc,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => proc.once('exit', resolve)),
  };
  proc.stdout?.on('data', (chunk: Buffer) => {
    collected.stdout += chunk.toString();
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    collected.stderr += chunk.toString();
  });
  return collected;
}

/**
 * Waits until a server child printed its last startup line (`Python: ...`) or exited; the
 * caller then asserts on what it printed.
 */
export async function untilStarted(child: CollectedProcess, timeoutMs = 60_000): Promise<void> {
  await until(() => child.stdout.includes('Python:') || child.proc.exitCode !== null, timeoutMs);
}
