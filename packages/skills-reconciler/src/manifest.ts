import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SkillsError } from './errors.js';
import { isValidSkillName, skillNameSchema } from './skill.js';

/** Manifests are small lists; anything bigger is a mistake or an attack. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_ENTRIES = 1000;

export type SkillScope = 'user' | 'project';

export interface TarballSource {
  type: 'tarball';
  url: string;
  sha256?: string;
  subpath?: string;
}

export interface GitSource {
  type: 'git';
  url: string;
  ref: string;
  subpath?: string;
}

export type SkillSource = TarballSource | GitSource;

/** One normalised manifest entry: name derived, GitHub shorthand translated. */
export interface ManifestEntry {
  name: string;
  scope: SkillScope;
  source: SkillSource;
  /** Stable identity of the source: what "the same source" means across manifests. */
  sourceId: string;
}

export interface Manifest {
  version: 1;
  skills: ManifestEntry[];
}

function normaliseSubpath(value: string): string | undefined {
  let path = value.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  if (path === '' || path === '.') return undefined;
  path = path.replace(/\/{2,}/g, '/');
  return path;
}

const subpathSchema = z
  .string()
  .max(1024)
  .refine(
    (value) =>
      !value.includes('\0') &&
      !value.includes('\\') &&
      !value.startsWith('/') &&
      !/^[A-Za-z]:/.test(value) &&
      value.split('/').every((part) => part !== '..'),
    'must be a relative path without ".." or backslashes',
  )
  .transform(normaliseSubpath);

function hasProtocol(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** `user:password@` in a URL is a credential that would end up in logs and the inventory. */
function hasUserinfo(value: string, allowUsername = false): boolean {
  try {
    const url = new URL(value);
    return url.password !== '' || (!allowUsername && url.username !== '');
  } catch {
    return false;
  }
}

const archiveUrlSchema = z
  .string()
  .max(4096)
  .refine(
    (value) => hasProtocol(value, ['http:', 'https:', 'file:']),
    'must be an http(s) or file:// URL',
  )
  .refine((value) => !hasUserinfo(value), 'must not contain credentials (user:password@)')
  .transform((value) => new URL(value).href);

const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$/;

// `ext::` and friends run commands; a leading `-` would be read as an option.
const gitUrlSchema = z
  .string()
  .max(4096)
  .refine(
    (value) =>
      !value.startsWith('-') &&
      !value.includes('::') &&
      (hasProtocol(value, ['http:', 'https:', 'ssh:', 'git:', 'file:']) || SCP_LIKE.test(value)),
    'must be an https, ssh, git, file or user@host:path URL',
  )
  // An ssh user name (`ssh://git@host/...`) is not a secret; a password anywhere is.
  .refine(
    (value) => SCP_LIKE.test(value) || !hasUserinfo(value, hasProtocol(value, ['ssh:'])),
    'must not contain credentials (user:password@)',
  );

const gitRefSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._/-]+$/, 'invalid characters in ref')
  .refine(
    (ref) => !ref.startsWith('-') && !ref.includes('..') && !ref.endsWith('/'),
    'invalid ref',
  );

const tarballSourceSchema = z.strictObject({
  type: z.literal('tarball'),
  url: archiveUrlSchema,
  sha256: z
    .string()
    .regex(/^[A-Fa-f0-9]{64}$/, 'must be 64 hex characters')
    .transform((value) => value.toLowerCase())
    .optional(),
  subpath: subpathSchema.optional(),
});

const gitSourceSchema = z.strictObject({
  type: z.literal('git'),
  url: gitUrlSchema,
  ref: gitRefSchema,
  subpath: subpathSchema.optional(),
});

const GITHUB_TREE =
  /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)\/tree\/([^/?#]+)(?:\/([^?#]*?))?\/?$/;

const githubTreeSchema = z
  .string()
  .max(4096)
  .regex(GITHUB_TREE, 'must be https://github.com/<owner>/<repo>/tree/<ref>/<path>');

const entrySchema = z.strictObject({
  name: skillNameSchema.optional(),
  scope: z.enum(['user', 'project']).default('user'),
  source: z.union([tarballSourceSchema, gitSourceSchema, githubTreeSchema]),
});

export const manifestSchema = z.strictObject({
  version: z.literal(1),
  skills: z.array(entrySchema).max(MAX_ENTRIES),
});

/** Translates a GitHub tree URL to the codeload tarball of that ref, with the path as subpath. */
export function githubTreeToTarball(url: string): TarballSource {
  const match = GITHUB_TREE.exec(url);
  if (!match) throw new SkillsError('source_unsupported', 'not a GitHub tree URL');
  const [, owner, repo, ref, path] = match as unknown as [string, string, string, string, string?];
  const subpath = path
    ? normaliseSubpath(path.split('/').map(decodeURIComponent).join('/'))
    : undefined;
  if (subpath?.split('/').some((part) => part === '..' || part.includes('\\'))) {
    throw new SkillsError('source_unsupported', 'GitHub tree path must not contain ".."');
  }
  const source: TarballSource = {
    type: 'tarball',
    url: `https://codeload.github.com/${owner}/${repo}/tar.gz/${encodeURIComponent(decodeURIComponent(ref))}`,
  };
  if (subpath) source.subpath = subpath;
  return source;
}

/**
 * A URL as it may be stored and shown: a query string or fragment (presigned tokens live
 * there) is replaced by a hash of the full URL, which still tells two URLs apart.
 */
export function urlIdentity(url: string): string {
  if (SCP_LIKE.test(url)) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.search === '' && parsed.hash === '') return url;
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 32);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}?sha256=${hash}`;
}

/** A source with its URL reduced to `urlIdentity` (for the inventory). */
export function redactSource(source: SkillSource): SkillSource {
  return { ...source, url: urlIdentity(source.url) };
}

export function sourceId(source: SkillSource): string {
  const sub = source.subpath ? `#${source.subpath}` : '';
  const url = urlIdentity(source.url);
  return source.type === 'git' ? `git:${url}@${source.ref}${sub}` : `tarball:${url}${sub}`;
}

export interface ParseManifestOptions {
  /**
   * The manifest was read from this machine (a path or `file://`). Only a local manifest may
   * name `file:` sources: a remote one must not make the reconciler copy local files or repos
   * (default false).
   */
  local?: boolean | undefined;
  /** Allow git over ssh (`ssh://`, `user@host:path`), which uses the user's keys (default false). */
  allowSshGit?: boolean | undefined;
}

function checkOrigin(source: SkillSource, index: number, options: ParseManifestOptions): void {
  if (!options.local && hasProtocol(source.url, ['file:'])) {
    throw new SkillsError(
      'source_unsupported',
      `skills.${index}: only a local manifest may name file: sources`,
    );
  }
  if (
    !options.allowSshGit &&
    source.type === 'git' &&
    (SCP_LIKE.test(source.url) || hasProtocol(source.url, ['ssh:']))
  ) {
    throw new SkillsError(
      'source_unsupported',
      `skills.${index}: git over ssh is turned off (allowSshGit)`,
    );
  }
}

/** A source for messages: scheme, host and path only (no local paths, no credentials). */
export function displaySource(source: SkillSource): string {
  let where: string;
  if (source.type === 'git' && SCP_LIKE.test(source.url)) where = source.url.split(':')[0] ?? 'git';
  else if (source.url.startsWith('file:')) where = 'a local file';
  else {
    const url = new URL(source.url);
    where = `${url.protocol}//${url.host}${url.pathname}`;
  }
  const ref = source.type === 'git' ? `@${source.ref}` : '';
  return `${source.type} ${where}${ref}${source.subpath ? `#${source.subpath}` : ''}`;
}

function lastSegment(path: string): string {
  const parts = path.split('/').filter((part) => part.length > 0);
  return parts[parts.length - 1] ?? '';
}

/** The install name when the entry gives none: the subpath's last folder, else the repo/file name. */
export function deriveName(source: SkillSource): string {
  if (source.subpath) return lastSegment(source.subpath);
  if (source.type === 'git') {
    const path = SCP_LIKE.test(source.url)
      ? source.url.split(':').slice(1).join(':')
      : new URL(source.url).pathname;
    return lastSegment(path).replace(/\.git$/, '');
  }
  return lastSegment(new URL(source.url).pathname).replace(/\.(?:tar\.gz|tgz|tar)$/, '');
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid manifest';
  const where = issue.path.length > 0 ? issue.path.join('.') : 'manifest';
  return `${where}: ${issue.message}`;
}

/**
 * Parses a manifest (YAML or JSON) and normalises its entries. Throws `manifest_invalid`, or
 * `source_unsupported` for a source the manifest's origin may not use (see options).
 */
export function parseManifest(text: string, options: ParseManifestOptions = {}): Manifest {
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES) {
    throw new SkillsError('manifest_too_large', 'the manifest is larger than 1 MiB');
  }
  let data: unknown;
  try {
    // JSON is YAML; one parser, with alias expansion bounded against "billion laughs".
    data = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, prettyErrors: false });
  } catch {
    throw new SkillsError('manifest_invalid', 'the manifest is neither valid YAML nor JSON');
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) throw new SkillsError('manifest_invalid', describeIssue(parsed.error));
  const skills = parsed.data.skills.map((entry, index): ManifestEntry => {
    const source: SkillSource =
      typeof entry.source === 'string'
        ? githubTreeToTarball(entry.source)
        : stripUndefined(entry.source);
    checkOrigin(source, index, options);
    const name = entry.name ?? deriveName(source);
    if (!isValidSkillName(name)) {
      throw new SkillsError(
        'manifest_invalid',
        `skills.${index}: no valid skill name can be derived from the source; set "name"`,
      );
    }
    return { name, scope: entry.scope, source, sourceId: sourceId(source) };
  });
  return { version: 1, skills };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
