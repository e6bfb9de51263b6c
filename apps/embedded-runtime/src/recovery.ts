import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Live processes of this user whose command line mentions `text` (Linux `/proc`; else none). */
export function processesMentioning(text: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(text)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}

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
