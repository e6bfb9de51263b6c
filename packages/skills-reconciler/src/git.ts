import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isAbortError, SkillsError, throwIfAborted } from './errors.js';
import { deadline } from './http.js';

export interface GitOptions {
  /** The git executable (default `git` on PATH). */
  gitPath?: string | undefined;
  /** HOME for git (the reconciler's injected home); never the real one by accident. */
  homeDir?: string | undefined;
  /** Also allow `ssh` transports (only with `allowSshGit`). */
  allowSsh?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Cap on stdout (archives). */
  maxOutputBytes?: number;
  /** Deadline per git command (a stalled remote must not hold the pass forever). */
  timeoutMs?: number | undefined;
}

const COMMIT = /^[0-9a-f]{40}$/i;

function isCommitId(ref: string): boolean {
  return COMMIT.test(ref);
}

/**
 * The user's and the system's git configuration can rewrite URLs (`insteadOf`), add
 * credential helpers or hooks; a pass must behave the same on every machine, so git sees
 * only the injected home and no global or system configuration.
 */
export function gitEnv(options: Pick<GitOptions, 'homeDir' | 'allowSsh'> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Never prompt (a headless pass cannot answer) and never run `ext::` style transports.
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: 'true',
    GIT_ALLOW_PROTOCOL: options.allowSsh ? 'file:git:http:https:ssh' : 'file:git:http:https',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LC_ALL: 'C',
  };
  if (options.homeDir !== undefined) env.HOME = options.homeDir;
  // Neither of these may point git at another configuration file.
  delete env.GIT_CONFIG;
  delete env.GIT_CONFIG_PARAMETERS;
  delete env.GIT_CONFIG_COUNT;
  delete env.XDG_CONFIG_HOME;
  return env;
}

/** Runs git; resolves with stdout. Messages name the subcommand only (stderr may hold paths). */
function runGit(args: string[], options: GitOptions & { cwd?: string } = {}): Promise<Buffer> {
  throwIfAborted(options.signal);
  const max = options.maxOutputBytes ?? 16 * 1024 * 1024;
  const sub = args.find((arg) => !arg.startsWith('-') && !arg.includes('=')) ?? 'command';
  const limit =
    options.timeoutMs === undefined ? undefined : deadline(options.signal, options.timeoutMs);
  const timedOut = () =>
    new SkillsError('fetch_timeout', `git ${sub} did not complete within ${options.timeoutMs} ms`);
  return new Promise((resolve, reject) => {
    const child = spawn(options.gitPath ?? 'git', args, {
      cwd: options.cwd,
      env: gitEnv(options),
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: limit?.signal ?? options.signal,
    });
    const out: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let tooLarge = false;
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > max) {
        tooLarge = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      if (limit?.expired()) reject(timedOut());
      else if (isAbortError(error))
        reject(new SkillsError('aborted', 'the pass was stopped', { cause: error }));
      else
        reject(new SkillsError('git_failed', `git ${sub} could not be started`, { cause: error }));
    });
    child.on('close', (code) => {
      if (limit?.expired()) {
        reject(timedOut());
      } else if (options.signal?.aborted) {
        reject(new SkillsError('aborted', 'the pass was stopped'));
      } else if (tooLarge) {
        reject(
          new SkillsError('archive_too_large', `git ${sub} output is larger than ${max} bytes`),
        );
      } else if (code !== 0) {
        reject(
          new SkillsError('git_failed', `git ${sub} failed (exit ${code})`, {
            cause: new Error(stderr),
          }),
        );
      } else {
        resolve(Buffer.concat(out));
      }
    });
  });
}

/** Resolves a branch or tag to a commit with `git ls-remote` (touches no disk). */
export async function resolveGitRef(
  url: string,
  ref: string,
  options: GitOptions = {},
): Promise<string> {
  if (isCommitId(ref)) return ref.toLowerCase();
  const out = (await runGit(['ls-remote', '--', url, ref], options)).toString('utf8');
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (sha && name && isCommitId(sha)) refs.set(name, sha.toLowerCase());
  }
  const found =
    refs.get(`refs/heads/${ref}`) ??
    refs.get(`refs/tags/${ref}^{}`) ??
    refs.get(`refs/tags/${ref}`) ??
    refs.get(ref);
  if (!found)
    throw new SkillsError('git_failed', `git ref "${ref}" was not found in the repository`);
  return found;
}

export interface GitTree {
  commit: string;
  /** An uncompressed tar of the skill folder (`git archive <commit>:<subpath>`). */
  tar: Buffer;
}

/**
 * Fetches one ref (depth 1) into a throwaway bare repository under `scratchParent` and
 * archives the skill folder of exactly the fetched commit.
 */
export async function fetchGitTree(
  url: string,
  ref: string,
  subpath: string | undefined,
  scratchParent: string,
  options: GitOptions = {},
): Promise<GitTree> {
  const dir = await mkdtemp(join(scratchParent, 'git-'));
  try {
    await runGit(['init', '-q', '--bare', dir], options);
    await runGit(['-C', dir, 'fetch', '-q', '--depth', '1', '--no-tags', '--', url, ref], options);
    const commit = (await runGit(['-C', dir, 'rev-parse', 'FETCH_HEAD^{commit}'], options))
      .toString('utf8')
      .trim()
      .toLowerCase();
    if (!isCommitId(commit)) throw new SkillsError('git_failed', 'git did not report a commit');
    if (isCommitId(ref) && commit !== ref.toLowerCase()) {
      throw new SkillsError(
        'digest_mismatch',
        'git fetched a different commit than the pinned one',
      );
    }
    const treeish = subpath ? `${commit}:${subpath}` : commit;
    const tar = await runGit(['-C', dir, 'archive', '--format=tar', treeish], options);
    return { commit, tar };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
