import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkspaceError } from './errors.js';

export const LOCK_FILE = 'runtime.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `<dataDir>/runtime.lock` for this process. The embedded runtime reaps every kernel it
 * finds on its data dir at start (crash recovery), so a second server, `runyard mcp` or
 * `runyard runtime serve` on the same data dir would kill the first one's kernels: it is
 * refused instead. A lock whose process is gone is stale and taken over. Returns the release.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // Already gone.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    } catch {
      // Removed between our attempts: try again.
      continue;
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
      throw new WorkspaceError(
        'data_dir_in_use',
        `another Runyard process (pid ${holder}) uses this data dir; stop it or give this one its own --data-dir`,
      );
    }
    try {
      unlinkSync(file);
    } catch {
      // Someone else took it over first; the next attempt sees theirs.
    }
  }
  throw new WorkspaceError('data_dir_in_use', 'the data dir lock could not be taken');
}
