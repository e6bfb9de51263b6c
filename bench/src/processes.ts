import { processesMentioning } from '@runyard/kernels';

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
