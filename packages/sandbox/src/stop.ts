import { readdirSync, readFileSync } from 'node:fs';

/**
 * Stopping a sandbox by signalling the `bwrap` launcher alone is racy. The launcher clones the
 * sandbox's pid-namespace init and only that init, once its setup is done, asks for SIGKILL on
 * the launcher's death (`--die-with-parent` is a prctl in the init, not in the launcher). A
 * launcher killed during that setup leaves the init orphaned and alive: it finishes the setup,
 * calls setsid (`--new-session`, so a process-group kill misses it) and runs the command for
 * ever, holding the worker's stdout and stderr open. Signals other than SIGKILL from outside the
 * namespace do not reach the init either (it installs no handlers).
 */

export interface StopSandboxOptions {
  /** How long the command may take to exit after SIGTERM before the sandbox is killed. */
  graceMs: number;
  /** Poll interval while waiting; tests shorten it. */
  pollMs?: number;
  /** Reads `/proc`; injectable for tests. */
  proc?: ProcReader;
  /** Sends signals; injectable for tests. */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

export interface ProcReader {
  /** The state letter of `/proc/<pid>/stat` (R, S, D, T, t, Z, ...), undefined when gone. */
  state(pid: number): string | undefined;
  /** Pids whose parent is `pid`. */
  children(pid: number): number[];
}

/** Fields of `/proc/<pid>/stat` after the command name (state, ppid, ...); undefined when gone. */
function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the other fields follow the last ')'.
  const end = stat.lastIndexOf(')');
  return end < 0 ? undefined : stat.slice(end + 2).split(' ');
}

function readState(pid: number): string | undefined {
  return statFields(pid)?.[0] || undefined;
}

function readChildren(pid: number): number[] {
  const found = new Set<number>();
  let listed = false;
  try {
    // Needs CONFIG_PROC_CHILDREN; the launcher is single-threaded, but read every task anyway.
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
      listed = true;
      for (const part of text.split(/\s+/)) if (/^\d+$/.test(part)) found.add(Number(part));
    }
  } catch {
    listed = false;
  }
  if (listed) return [...found];
  // Without it: every process whose stat names `pid` as its parent.
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of names) {
    if (/^\d+$/.test(name) && Number(statFields(name)?.[1]) === pid) found.add(Number(name));
  }
  return [...found];
}

export const procReader: ProcReader = { state: readState, children: readChildren };

function defaultKill(pid: number, signal: NodeJS.Signals): void {
  process.kill(pid, signal);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True when the process is gone or a zombie (its parent, stopped, has not reaped it). */
function ended(proc: ProcReader, pid: number): boolean {
  const state = proc.state(pid);
  return state === undefined || state === 'Z' || state === 'X';
}

/**
 * Stops everything a `bwrap` launcher (`pid`, a child of this process, not yet reaped) started,
 * whatever stage its setup is at:
 * 1. SIGSTOP the launcher and wait until it is stopped: it can no longer clone an init, and an
 *    init it already cloned cannot be reaped, so that pid stays valid.
 * 2. SIGTERM the sandbox's session (the command and whatever it started) and give it
 *    `graceMs` to end.
 * 3. SIGKILL each init: the kernel then kills every process in its pid namespace.
 * 4. SIGKILL the launcher's process group.
 * Resolves once the signals are sent; the caller still awaits the launcher's exit.
 */
export async function stopBubblewrap(pid: number, options: StopSandboxOptions): Promise<void> {
  const proc = options.proc ?? procReader;
  const kill = options.kill ?? defaultKill;
  const pollMs = options.pollMs ?? 10;
  const send = (target: number, signal: NodeJS.Signals): boolean => {
    try {
      kill(target, signal);
      return true;
    } catch {
      // ESRCH: already gone (or, for a group, not formed yet)
      return false;
    }
  };
  if (!send(pid, 'SIGSTOP')) return;
  // Bounded: a stop takes effect on the launcher's next return to user space.
  for (let waited = 0; waited < 1000; waited += pollMs) {
    const state = proc.state(pid);
    if (state === undefined || state === 'T' || state === 't' || state === 'Z') break;
    await sleep(pollMs);
  }
  const inits = proc.children(pid);
  // After setsid the init leads the sandbox's session and process group; before it there is no
  // such group yet (and nothing of the command runs), so there is nothing to wait for.
  const asked = inits.filter((init) => send(-init, 'SIGTERM'));
  for (let waited = 0; waited < options.graceMs; waited += pollMs) {
    if (asked.every((init) => ended(proc, init))) break;
    await sleep(pollMs);
  }
  for (const init of inits) send(init, 'SIGKILL');
  if (!send(-pid, 'SIGKILL')) send(pid, 'SIGKILL');
}
