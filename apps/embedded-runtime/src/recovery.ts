import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processesMentioning } from '@runyard/kernels';

/**
 * After a crash: kernels of the previous run are still running with nobody to drive them (their
 * connection files live in this runtime's own kernel dir, which is on their command line). They
 * are stopped and every connection file there is removed, so nothing stale is left to reuse.
 */
export function reapPreviousKernels(runtimeDir: string): { killed: number; files: number } {
  // Sandboxed kernels keep their connection files in a subdir each: match the whole dir.
  const marker = `${runtimeDir}/`;
  let killed = 0;
  for (const pid of processesMentioning(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // gone already
    }
  }
  let files = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync(runtimeDir);
  } catch {
    return { killed, files };
  }
  for (const name of entries) {
    rmSync(join(runtimeDir, name), { recursive: true, force: true });
    files++;
  }
  return { killed, files };
}
