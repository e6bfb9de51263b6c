import { readdirSync, readFileSync } from 'node:fs';

/**
 * Live (non-zombie) processes whose command line mentions `text`. Every kernel a suite starts
 * gets its connection file under the suite's temp dir, so this finds exactly the suite's kernels.
 */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(text)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/**
 * Fails the suite when a process it started is still running, after killing it: a benchmark
 * that leaks kernels would slow every figure measured after it.
 */
export async function assertNoneLeft(text: string, what: string): Promise<void> {
  // Shutdown replies arrive before the process has finished exiting.
  let left = processesMentioning(text);
  for (let waited = 0; left.length > 0 && waited < 3000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = processesMentioning(text);
  }
  if (left.length === 0) return;
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  throw new Error(`${left.length} ${what} process(es) were still running (killed): ${left}`);
}
