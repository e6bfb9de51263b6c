import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';

/** Variables a process that starts kernels must not keep in its environment. */
export function isWithheldVariable(name: string): boolean {
  return (
    name.startsWith('RUNYARD_SECRET_') ||
    name === 'RUNYARD_TOKEN' ||
    name === 'RUNYARD_SKILLS_TOKEN' ||
    name === 'RUNYARD_RUNTIME_TOKEN'
  );
}

/** `env_start` and `env_end` (fields 50, 51 of `/proc/<pid>/stat`), or undefined. */
export function environBounds(stat: string): { start: number; end: number } | undefined {
  // The command name (field 2) may contain spaces and parentheses: split after its last `)`.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[50 - 3]);
  const end = Number(fields[51 - 3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) return undefined;
  return { start, end };
}

/**
 * Offsets and lengths of the values of withheld variables inside an environment block
 * (`NAME=value\0...`, as the kernel keeps it at the top of the process's stack).
 */
export function withheldValueRanges(
  block: Buffer,
  withheld: (name: string) => boolean = isWithheldVariable,
): { offset: number; length: number }[] {
  const ranges: { offset: number; length: number }[] = [];
  let at = 0;
  while (at < block.length) {
    let end = block.indexOf(0, at);
    if (end < 0) end = block.length;
    const eq = block.indexOf(0x3d, at);
    if (eq > at && eq < end && withheld(block.toString('latin1', at, eq))) {
      ranges.push({ offset: eq + 1, length: end - eq - 1 });
    }
    at = end + 1;
  }
  return ranges;
}

export interface WithheldEnvironment {
  /** The withheld variables' values, for this process's own use (never an environment). */
  values: Record<string, string>;
  /**
   * Whether the initial environment block (what `/proc/<pid>/environ` shows to anyone who may
   * read it) was overwritten too; false where the kernel does not allow writing
   * `/proc/self/mem` or the platform has no procfs.
   */
  scrubbed: boolean;
}

/**
 * Takes the withheld variables (`RUNYARD_SECRET_*`, the API tokens) out of this process's
 * environment: returns their values, deletes them from `env` (normally `process.env`, so no
 * child ever inherits them) and overwrites them in the process's initial environment block.
 * Deleting alone is not enough: libc's `unsetenv` only unlinks the entry, and
 * `/proc/<pid>/environ` keeps showing the block the process started with — which an
 * unsandboxed kernel of the same user read as `/proc/<ppid>/environ` (issue 15).
 *
 * Call it once at start, before anything is spawned. It protects against reading the
 * environment only: a process of the same user can still read this process's memory
 * (ptrace, `/proc/<pid>/mem`); only the sandbox closes that.
 */
export function withholdSecretsFromEnvironment(
  env: Record<string, string | undefined> = process.env,
  options: { procRoot?: string; withheld?: (name: string) => boolean } = {},
): WithheldEnvironment {
  const withheld = options.withheld ?? isWithheldVariable;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !withheld(name)) continue;
    values[name] = value;
    delete env[name];
  }
  let scrubbed = false;
  if (env === process.env && process.platform === 'linux') {
    scrubbed = scrubInitialEnvironment(options.procRoot ?? '/proc/self', withheld);
  }
  return { values, scrubbed };
}

/** Overwrites withheld values in the initial environment block with `*`; true when clean. */
function scrubInitialEnvironment(proc: string, withheld: (name: string) => boolean): boolean {
  let fd: number | undefined;
  try {
    const bounds = environBounds(readFileSync(`${proc}/stat`, 'latin1'));
    if (!bounds) return false;
    fd = openSync(`${proc}/mem`, 'r+');
    const block = Buffer.alloc(bounds.end - bounds.start);
    readSync(fd, block, 0, block.length, bounds.start);
    for (const range of withheldValueRanges(block, withheld)) {
      const mask = Buffer.alloc(range.length, 0x2a);
      writeSync(fd, mask, 0, mask.length, bounds.start + range.offset);
    }
    closeSync(fd);
    fd = undefined;
    // Check what others would read.
    const after = readFileSync(`${proc}/environ`);
    return withheldValueRanges(after, withheld).every((range) =>
      after.subarray(range.offset, range.offset + range.length).every((byte) => byte === 0x2a),
    );
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
