import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { RuntimeError } from '@runyard/runtime-registry';

export interface WorkspacePath {
  /** Real absolute path (symlinks resolved) used for every read and write. */
  absolute: string;
  /** Relative to the workspace root with `/` separators: the notebook's identity. */
  relative: string;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function outside(): RuntimeError {
  return new RuntimeError('path_outside_workspace', 'The path is outside the workspace');
}

function within(root: string, candidate: string): string | undefined {
  const rel = relative(root, candidate);
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel;
}

/** Resolves symlinks of the deepest existing ancestor, so a link anywhere on the path counts. */
function realpathLoose(path: string): string {
  let current = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(current), ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      rest.push(basename(current));
      current = parent;
    }
  }
}

/**
 * Confines a caller-supplied path to the workspace: `..` segments, absolute paths elsewhere and
 * symlinks whose target leaves the workspace are all `path_outside_workspace`. `root` must be
 * the workspace's real path.
 */
export function resolveWorkspacePath(
  root: string,
  input: string,
  options: { extension?: string } = {},
): WorkspacePath {
  if (typeof input !== 'string' || input.length === 0 || input.length > 4096 || CONTROL.test(input))
    throw new RuntimeError('invalid_request', 'The path must be a non-empty printable string');
  // A longer name is ENAMETOOLONG at the first syscall: a caller's mistake, not a server fault.
  if (input.split('/').some((part) => Buffer.byteLength(part) > 255))
    throw new RuntimeError('invalid_request', 'A path component is longer than 255 bytes');
  const lexical = resolve(root, input);
  if (within(root, lexical) === undefined) throw outside();
  const real = existsSync(lexical) ? realpathSync(lexical) : realpathLoose(lexical);
  const rel = within(root, real);
  if (rel === undefined || rel === '') throw outside();
  if (options.extension && !real.endsWith(options.extension))
    throw new RuntimeError('invalid_request', `The path must end with ${options.extension}`);
  return { absolute: real, relative: rel.split(sep).join('/') };
}

/** Like `resolveWorkspacePath` but the workspace root itself is allowed (a worker's cwd). */
export function resolveWorkspaceDir(root: string, input: string | undefined): string {
  if (input === undefined || input === '' || input === '.') return root;
  const lexical = resolve(root, input);
  if (within(root, lexical) === undefined) throw outside();
  const real = realpathLoose(lexical);
  if (within(root, real) === undefined) throw outside();
  return real;
}
