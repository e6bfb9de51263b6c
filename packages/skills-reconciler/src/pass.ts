import { existsSync, lstatSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { extractSkill } from './archive.js';
import { digestTree, digestTreeIfExists } from './digest.js';
import { SkillsError, throwIfAborted, toSkillsError } from './errors.js';
import { fetchGitTree, resolveGitRef } from './git.js';
import {
  DEFAULT_ARCHIVE_TIMEOUT_MS,
  DEFAULT_MANIFEST_TIMEOUT_MS,
  downloadArchive,
  type FetchLike,
} from './http.js';
import { type Checkpoint, createStaging, recoverRoot, swapIn, swapOut } from './install.js';
import type { InventoryRecord, InventoryStore } from './inventory.js';
import {
  displaySource,
  type ManifestEntry,
  redactSource,
  type SkillScope,
  type SkillSource,
} from './manifest.js';
import {
  loadManifests,
  type ManifestCache,
  type MergedEntry,
  type MergedManifests,
  mergeManifests,
  type PassError,
} from './manifest-loader.js';
import { acquireRootLock, type RootLock } from './root-lock.js';
import { parseSkill } from './skill.js';

export type OnDrift = 'keep' | 'overwrite';

export interface SkillLimits {
  /** Downloaded archive cap (default 100 MiB). */
  maxArchiveBytes: number;
  /** Extracted skill cap (default 20 MiB). */
  maxSkillBytes: number;
  /** Manifest cap (default 1 MiB). */
  maxManifestBytes: number;
  /** Cap on the archive's inflated bytes, inside the skill or not (default 10 × maxSkillBytes). */
  maxInflatedBytes: number;
  /** Cap on the archive's entries, inside the skill or not (default 10,000). */
  maxArchiveEntries: number;
  /** Deadline per manifest request, headers and body (default 60 s). */
  manifestTimeoutMs: number;
  /** Deadline per archive request (and per git command), headers and body (default 10 min). */
  archiveTimeoutMs: number;
  /**
   * How long an applying pass waits for a skills root another live process (or reconciler) is
   * applying to, before it gives up with `skills_root_locked` (default 5 min).
   */
  lockWaitMs: number;
}

export const DEFAULT_LIMITS: SkillLimits = {
  maxArchiveBytes: 100 * 1024 * 1024,
  maxSkillBytes: 20 * 1024 * 1024,
  maxManifestBytes: 1024 * 1024,
  maxInflatedBytes: 10 * 20 * 1024 * 1024,
  maxArchiveEntries: 10_000,
  manifestTimeoutMs: DEFAULT_MANIFEST_TIMEOUT_MS,
  archiveTimeoutMs: DEFAULT_ARCHIVE_TIMEOUT_MS,
  lockWaitMs: 5 * 60 * 1000,
};

export interface SkillsRoots {
  user: string;
  project?: string | undefined;
}

export interface PassContext {
  manifests: readonly string[];
  roots: SkillsRoots;
  inventory: InventoryStore;
  fetch: FetchLike;
  token?: string | undefined;
  /** Configured token scope; undefined: per manifest, its own host. */
  tokenHosts?: readonly string[] | undefined;
  manifestCache: ManifestCache;
  limits: SkillLimits;
  onDrift: OnDrift;
  now: () => number;
  gitPath?: string | undefined;
  /** HOME for git child processes (the injected home). */
  homeDir?: string | undefined;
  /** Allow ssh / `user@host:path` git sources (off by default). */
  allowSshGit?: boolean | undefined;
  checkpoint?: Checkpoint | undefined;
}

export type PlanReason =
  | 'new'
  | 'missing'
  | 'source_changed'
  | 'upstream_changed'
  | 'drift'
  | 'stale';

export interface PlanItem {
  name: string;
  scope: SkillScope;
  /** The manifest source (`sourceId`), or for removals the recorded one. */
  sourceId: string;
  reason?: PlanReason;
  /** `sha256:<hex>` of the archive or `git:<commit>` the pass resolved (or recorded). */
  resolved?: string;
  /** The installed folder differs from what was installed (a local edit). */
  drift?: boolean;
  /** Set by `reconcile()`: whether this change was applied. */
  outcome?: 'applied' | 'failed';
}

export interface Conflict {
  code: 'skill_name_conflict' | 'skill_drifted';
  name: string;
  scope: SkillScope;
  message: string;
  sourceId?: string;
}

export interface PassReport {
  install: PlanItem[];
  update: PlanItem[];
  remove: PlanItem[];
  unchanged: PlanItem[];
  conflicts: Conflict[];
  errors: PassError[];
  warnings: string[];
  /** False when a manifest failed to load (nothing was removed). */
  manifestsComplete: boolean;
  /** True when `stop()` cut the pass short (at a safe point). */
  aborted: boolean;
}

function emptyReport(): PassReport {
  return {
    install: [],
    update: [],
    remove: [],
    unchanged: [],
    conflicts: [],
    errors: [],
    warnings: [],
    manifestsComplete: true,
    aborted: false,
  };
}

type Mode = 'plan' | 'apply';

interface Upstream {
  resolved: string;
  /** Tar bytes of the skill's archive, fetched lazily (plan mode avoids it when it can). */
  load?: (
    staging: string,
  ) => Promise<{ data: Buffer; unwrap: boolean; subpath?: string; resolved: string }>;
}

/**
 * A skills root must be a real directory, and the project root's `.claude` parent too: the
 * project root is inside the workspace, where kernels and workers can replace either with a
 * symlink to a folder outside, and the reconciler would then install (and delete) there. The
 * user root's parent is not checked (people link `~/.claude` to a dotfiles folder). Checked
 * before the lock is taken and again right before each staging and swap; a missing folder is
 * fine (it is created as a real one).
 */
export function checkRoot(ctx: PassContext, root: string): void {
  const depth = root === ctx.roots.project && root !== ctx.roots.user ? 2 : 1;
  let path = root;
  for (let level = 0; level < depth; level++) {
    let info: ReturnType<typeof lstatSync> | undefined;
    try {
      info = lstatSync(path);
    } catch {
      info = undefined;
    }
    if (info && !info.isDirectory()) {
      throw new SkillsError(
        'skills_root_unsafe',
        `the ${depth === 2 ? 'project' : 'user'} skills folder (or its .claude folder) is a symlink or not a directory; nothing is installed through it`,
      );
    }
    path = dirname(path);
  }
}

function rootFor(ctx: PassContext, scope: SkillScope): string {
  if (scope === 'user') return ctx.roots.user;
  if (!ctx.roots.project) {
    throw new SkillsError(
      'project_root_missing',
      'a project-scope skill needs a workspace directory',
    );
  }
  return ctx.roots.project;
}

/** What the inventory keeps: never a query string (presigned tokens) of the source URL. */
function storedSource(source: SkillSource): InventoryRecord['source'] {
  return redactSource(source);
}

async function resolveUpstream(
  ctx: PassContext,
  entry: MergedEntry,
  record: InventoryRecord | undefined,
  signal: AbortSignal,
): Promise<Upstream> {
  const source = entry.source;
  if (source.type === 'git') {
    const gitOptions = {
      gitPath: ctx.gitPath,
      homeDir: ctx.homeDir,
      allowSsh: ctx.allowSshGit,
      signal,
      maxOutputBytes: ctx.limits.maxArchiveBytes,
      timeoutMs: ctx.limits.archiveTimeoutMs,
    };
    const commit = await resolveGitRef(source.url, source.ref, gitOptions);
    return {
      resolved: `git:${commit}`,
      load: async (staging) => {
        // A moving ref may have advanced since ls-remote: the commit that actually arrived is
        // the one installed and recorded (a pinned ref is verified by fetchGitTree).
        const tree = await fetchGitTree(
          source.url,
          source.ref,
          source.subpath,
          staging,
          gitOptions,
        );
        return { data: tree.tar, unwrap: false, resolved: `git:${tree.commit}` };
      },
    };
  }
  const download = async () => {
    const result = await downloadArchive(source.url, {
      fetch: ctx.fetch,
      token: ctx.token,
      tokenHosts: new Set(entry.tokenHosts),
      maxBytes: ctx.limits.maxArchiveBytes,
      timeoutMs: ctx.limits.archiveTimeoutMs,
      signal,
    });
    if (source.sha256 && result.sha256 !== source.sha256) {
      throw new SkillsError(
        'digest_mismatch',
        `${displaySource(source)} does not match its pinned sha256`,
      );
    }
    return result;
  };
  // A pinned archive that is already installed needs no download to be judged unchanged.
  if (source.sha256 && record?.resolved === `sha256:${source.sha256}`) {
    return {
      resolved: record.resolved,
      load: async () => {
        const result = await download();
        return {
          data: result.data,
          unwrap: true,
          subpath: source.subpath,
          resolved: `sha256:${result.sha256}`,
        };
      },
    };
  }
  const result = await download();
  return {
    resolved: `sha256:${result.sha256}`,
    load: async () => ({
      data: result.data,
      unwrap: true,
      subpath: source.subpath,
      resolved: `sha256:${result.sha256}`,
    }),
  };
}

async function stageAndSwap(
  ctx: PassContext,
  root: string,
  entry: ManifestEntry,
  upstream: Upstream,
  signal: AbortSignal,
): Promise<InventoryRecord> {
  checkRoot(ctx, root);
  const staging = await createStaging(root);
  try {
    if (!upstream.load) throw new SkillsError('install_failed', 'nothing to install');
    const loaded = await upstream.load(staging);
    throwIfAborted(signal);
    const fresh = join(staging, 'new');
    await extractSkill(loaded.data, fresh, {
      subpath: loaded.subpath,
      unwrap: loaded.unwrap,
      maxSkillBytes: ctx.limits.maxSkillBytes,
      maxInflatedBytes: ctx.limits.maxInflatedBytes,
      maxArchiveEntries: ctx.limits.maxArchiveEntries,
      signal,
    });
    const skillMd = await readFile(join(fresh, 'SKILL.md'), 'utf8').catch(() => {
      throw new SkillsError('skill_invalid', 'the skill has no SKILL.md file');
    });
    parseSkill(skillMd, entry.name);
    const tree = await digestTree(fresh);
    if (tree.bytes > ctx.limits.maxSkillBytes) {
      throw new SkillsError(
        'skill_too_large',
        `the skill is larger than ${ctx.limits.maxSkillBytes} bytes`,
      );
    }
    // Last safe point: past here the swap runs to the end, so a stop never leaves half a skill.
    throwIfAborted(signal);
    const owned = ctx.inventory.get(root, entry.name);
    const present = (await digestTreeIfExists(join(root, entry.name))) !== undefined;
    if (present && !owned) {
      throw new SkillsError(
        'skill_name_conflict',
        `a skill not installed by Runyard already uses the name "${entry.name}"`,
      );
    }
    const record: InventoryRecord = {
      name: entry.name,
      scope: entry.scope,
      sourceId: entry.sourceId,
      source: storedSource(entry.source),
      resolved: loaded.resolved,
      contentDigest: tree.digest,
      installedAt: new Date(ctx.now()).toISOString(),
    };
    checkRoot(ctx, root);
    await swapIn({ root, staging, record, inventory: ctx.inventory, checkpoint: ctx.checkpoint });
    return record;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function entryError(entry: ManifestEntry, error: SkillsError): PassError {
  return {
    code: error.code,
    message: `${entry.name} (${displaySource(entry.source)}): ${error.message}`,
    name: entry.name,
    scope: entry.scope,
    sourceId: entry.sourceId,
  };
}

async function handleEntry(
  ctx: PassContext,
  mode: Mode,
  entry: MergedEntry,
  report: PassReport,
  signal: AbortSignal,
): Promise<void> {
  const root = rootFor(ctx, entry.scope);
  const target = join(root, entry.name);
  const record = ctx.inventory.get(root, entry.name);
  const onDisk = await digestTreeIfExists(target);
  if (!record && onDisk !== undefined) {
    report.conflicts.push({
      code: 'skill_name_conflict',
      name: entry.name,
      scope: entry.scope,
      sourceId: entry.sourceId,
      message: `a skill not installed by Runyard already uses the name "${entry.name}"; it was left untouched`,
    });
    return;
  }
  const upstream = await resolveUpstream(ctx, entry, record, signal);
  const item: PlanItem = {
    name: entry.name,
    scope: entry.scope,
    sourceId: entry.sourceId,
    resolved: upstream.resolved,
  };
  let bucket: 'install' | 'update' | 'unchanged';
  if (!record) {
    bucket = 'install';
    item.reason = 'new';
  } else if (onDisk === undefined) {
    bucket = 'install';
    item.reason = 'missing';
  } else {
    const drift = onDisk !== record.contentDigest;
    if (drift) item.drift = true;
    if (record.sourceId !== entry.sourceId) {
      bucket = 'update';
      item.reason = 'source_changed';
    } else if (record.resolved !== upstream.resolved) {
      bucket = 'update';
      item.reason = 'upstream_changed';
    } else if (drift && ctx.onDrift === 'overwrite') {
      bucket = 'update';
      item.reason = 'drift';
    } else {
      bucket = 'unchanged';
      if (drift) {
        report.warnings.push(
          `${entry.name} (${entry.scope}) was edited locally; it is kept until its source changes (onDrift: keep)`,
        );
      }
    }
  }
  report[bucket].push(item);
  if (mode === 'plan' || bucket === 'unchanged') return;
  try {
    const installed = await stageAndSwap(ctx, root, entry, upstream, signal);
    item.resolved = installed.resolved;
    item.outcome = 'applied';
  } catch (error) {
    item.outcome = 'failed';
    throw error;
  }
}

async function handleRemoval(
  ctx: PassContext,
  mode: Mode,
  root: string,
  record: InventoryRecord,
  report: PassReport,
): Promise<void> {
  const target = join(root, record.name);
  const onDisk = await digestTreeIfExists(target);
  const drift = onDisk !== undefined && onDisk !== record.contentDigest;
  if (drift && ctx.onDrift !== 'overwrite') {
    report.conflicts.push({
      code: 'skill_drifted',
      name: record.name,
      scope: record.scope,
      sourceId: record.sourceId,
      message: `${record.name} is no longer in any manifest but was edited locally; it was left in place and is no longer managed`,
    });
    if (mode === 'apply') ctx.inventory.delete(root, record.name);
    return;
  }
  const item: PlanItem = {
    name: record.name,
    scope: record.scope,
    sourceId: record.sourceId,
    reason: 'stale',
    resolved: record.resolved,
  };
  if (drift) item.drift = true;
  report.remove.push(item);
  if (mode === 'plan') return;
  try {
    if (onDisk === undefined) {
      ctx.inventory.delete(root, record.name);
    } else {
      checkRoot(ctx, root);
      const staging = await createStaging(root);
      try {
        checkRoot(ctx, root);
        await swapOut({
          root,
          staging,
          name: record.name,
          inventory: ctx.inventory,
          checkpoint: ctx.checkpoint,
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    }
    item.outcome = 'applied';
  } catch (error) {
    item.outcome = 'failed';
    throw error;
  }
}

function rootsOf(ctx: PassContext): string[] {
  return ctx.roots.project ? [ctx.roots.user, ctx.roots.project] : [ctx.roots.user];
}

/**
 * The roots an applying pass locks: the user root always; the project root when it exists or
 * this pass may write to it — so a workspace without project skills gets no empty folder.
 * Sorted, so two passes locking the same roots never deadlock.
 */
function rootsToLock(ctx: PassContext, merged: MergedManifests): string[] {
  const roots = [ctx.roots.user];
  const project = ctx.roots.project;
  if (
    project !== undefined &&
    project !== ctx.roots.user &&
    (existsSync(project) ||
      merged.entries.some((entry) => entry.scope === 'project') ||
      ctx.inventory.list(project).length > 0)
  ) {
    roots.push(project);
  }
  return roots.sort();
}

/**
 * One pass. `plan` touches no disk (network only: manifests, archives, `git ls-remote`);
 * `apply` loads the manifests, takes the lock of each skills root it may write (waiting for
 * another process's pass), recovers from any crash, then installs/updates/removes entry by
 * entry. Each entry is isolated; `signal` is honoured between entries, inside downloads and
 * while waiting for a lock.
 */
export async function runPass(
  ctx: PassContext,
  mode: Mode,
  signal: AbortSignal,
  hooks: { onLockWait?: () => void } = {},
): Promise<PassReport> {
  const report = emptyReport();
  const locks: RootLock[] = [];
  try {
    throwIfAborted(signal);
    const loaded = await loadManifests(ctx.manifests, {
      fetch: ctx.fetch,
      token: ctx.token,
      tokenHosts: ctx.tokenHosts,
      cache: ctx.manifestCache,
      maxBytes: ctx.limits.maxManifestBytes,
      timeoutMs: ctx.limits.manifestTimeoutMs,
      allowSshGit: ctx.allowSshGit,
      signal,
    });
    const merged = mergeManifests(loaded);
    if (mode === 'apply') {
      const roots = rootsToLock(ctx, merged);
      for (const root of roots) checkRoot(ctx, root);
      for (const root of roots) {
        locks.push(
          await acquireRootLock(root, {
            signal,
            waitMs: ctx.limits.lockWaitMs,
            label: root === ctx.roots.user ? 'the user skills root' : 'the project skills root',
            onWait: hooks.onLockWait,
          }),
        );
      }
      for (const root of roots) await recoverRoot(root, ctx.inventory);
    }
    report.warnings.push(...merged.warnings);
    report.errors.push(...merged.errors);
    report.manifestsComplete = merged.complete;

    const wanted = new Set<string>();
    for (const entry of merged.entries) {
      throwIfAborted(signal);
      let root: string;
      try {
        root = rootFor(ctx, entry.scope);
      } catch (error) {
        report.errors.push(entryError(entry, toSkillsError(error, 'install_failed', 'failed')));
        continue;
      }
      wanted.add(`${root}\0${entry.name}`);
      try {
        await handleEntry(ctx, mode, entry, report, signal);
      } catch (error) {
        const failure = toSkillsError(error, 'install_failed', 'the skill could not be installed');
        if (failure.code === 'aborted') throw failure;
        report.errors.push(entryError(entry, failure));
      }
    }

    if (!merged.complete) {
      report.warnings.push('a manifest failed to load, so this pass removed nothing');
      return report;
    }
    for (const root of rootsOf(ctx)) {
      for (const record of ctx.inventory.list(root)) {
        if (wanted.has(`${root}\0${record.name}`)) continue;
        throwIfAborted(signal);
        try {
          await handleRemoval(ctx, mode, root, record, report);
        } catch (error) {
          const failure = toSkillsError(error, 'install_failed', 'the skill could not be removed');
          if (failure.code === 'aborted') throw failure;
          report.errors.push({
            code: failure.code,
            message: `${record.name}: ${failure.message}`,
            name: record.name,
            scope: record.scope,
            sourceId: record.sourceId,
          });
        }
      }
    }
  } catch (error) {
    const failure = toSkillsError(error, 'install_failed', 'the pass failed');
    if (failure.code === 'aborted') report.aborted = true;
    report.errors.push({ code: failure.code, message: failure.message });
  } finally {
    for (const lock of locks.reverse()) lock.release();
  }
  return report;
}
