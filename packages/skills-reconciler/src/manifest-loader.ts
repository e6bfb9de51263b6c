import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkillsError, toSkillsError } from './errors.js';
import { type FetchLike, fetchManifest, readLocalManifest, redactUrl } from './http.js';
import {
  displaySource,
  MAX_MANIFEST_BYTES,
  type Manifest,
  type ManifestEntry,
  parseManifest,
} from './manifest.js';

/** A problem tied to one manifest or one entry; safe to show (no paths, no tokens). */
export interface PassError {
  code: string;
  message: string;
  name?: string;
  scope?: string;
  sourceId?: string;
  manifest?: string;
}

export interface LoadedManifest {
  /** Position in the configured list and a display label (redacted URL or file name). */
  index: number;
  label: string;
  manifest?: Manifest;
  error?: PassError;
  notModified?: boolean;
  /** Hosts that may receive the token for this manifest and the archives it names. */
  tokenHosts: string[];
}

/** Last good body per manifest URL, for `If-None-Match`. */
export type ManifestCache = Map<string, { etag: string; manifest: Manifest }>;

export interface LoadManifestsOptions {
  fetch?: FetchLike;
  token?: string | undefined;
  /**
   * Hosts (`host[:port]`) that may receive the token, for every manifest. Default: per manifest,
   * that manifest's own host only (for it and the archives it names); none for a local one.
   */
  tokenHosts?: readonly string[] | undefined;
  cache?: ManifestCache;
  maxBytes?: number;
  /** Deadline per manifest request (default 60 s). */
  timeoutMs?: number | undefined;
  /** Allow git over ssh in manifests (default false). */
  allowSshGit?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

function isRemoteManifest(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

function manifestLabel(source: string, index: number): string {
  if (isRemoteManifest(source)) return `manifest #${index + 1} (${redactUrl(source)})`;
  const path = source.startsWith('file:') ? fileURLToPath(source) : source;
  return `manifest #${index + 1} (${basename(path)})`;
}

/** The hosts of the configured http(s) manifests (not the default scope: see `tokenHostsFor`). */
export function defaultTokenHosts(sources: readonly string[]): string[] {
  return [
    ...new Set(
      sources.filter(isRemoteManifest).map((source) => new URL(source).host.toLowerCase()),
    ),
  ];
}

/**
 * The token scope of one manifest: the configured list, else the manifest's own host. A
 * manifest on one host must not pass the token to another manifest's host by naming an archive
 * there.
 */
export function tokenHostsFor(source: string, configured?: readonly string[]): string[] {
  if (configured) return configured.map((host) => host.toLowerCase());
  return isRemoteManifest(source) ? [new URL(source).host.toLowerCase()] : [];
}

/** Loads every manifest; one failing never stops the others (see `mergeManifests`). */
export async function loadManifests(
  sources: readonly string[],
  options: LoadManifestsOptions = {},
): Promise<LoadedManifest[]> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const maxBytes = options.maxBytes ?? MAX_MANIFEST_BYTES;
  const results: LoadedManifest[] = [];
  for (const [index, source] of sources.entries()) {
    const label = manifestLabel(source, index);
    const tokenHosts = tokenHostsFor(source, options.tokenHosts);
    try {
      let manifest: Manifest;
      let notModified = false;
      if (isRemoteManifest(source)) {
        const cached = options.cache?.get(source);
        const response = await fetchManifest(source, {
          fetch: fetchImpl,
          token: options.token,
          tokenHosts: new Set(tokenHosts),
          etag: cached?.etag,
          maxBytes,
          timeoutMs: options.timeoutMs,
          signal: options.signal,
        });
        if (response.status === 'not_modified') {
          if (!cached) {
            throw new SkillsError(
              'manifest_fetch_failed',
              `${label} answered 304 to a request that had no ETag`,
            );
          }
          manifest = cached.manifest;
          notModified = true;
        } else {
          manifest = parseManifest(response.text, { allowSshGit: options.allowSshGit });
          if (response.etag) options.cache?.set(source, { etag: response.etag, manifest });
          else options.cache?.delete(source);
        }
      } else if (SCHEME.test(source) && !source.startsWith('file:')) {
        throw new SkillsError(
          'source_unsupported',
          `${label} must be an http(s) URL, a file:// URL or a path`,
        );
      } else {
        const path = source.startsWith('file:') ? fileURLToPath(source) : resolve(source);
        manifest = parseManifest(await readLocalManifest(path, maxBytes), {
          local: true,
          allowSshGit: options.allowSshGit,
        });
      }
      results.push(
        notModified
          ? { index, label, manifest, notModified, tokenHosts }
          : { index, label, manifest, tokenHosts },
      );
    } catch (error) {
      const failure = toSkillsError(error, 'manifest_fetch_failed', `${label} could not be loaded`);
      if (failure.code === 'aborted') throw failure;
      results.push({
        index,
        label,
        error: { code: failure.code, message: `${label}: ${failure.message}`, manifest: label },
        tokenHosts,
      });
    }
  }
  return results;
}

/** An entry with the label and token scope of the manifest that named it. */
export type MergedEntry = ManifestEntry & { manifest: string; tokenHosts: readonly string[] };

export interface MergedManifests {
  entries: MergedEntry[];
  warnings: string[];
  errors: PassError[];
  /** False when any manifest failed: the pass must then remove nothing. */
  complete: boolean;
}

/**
 * Merges manifests in order. The same source twice: the first wins, with a warning naming
 * both. Two entries that would install the same name in the same scope: the second is dropped
 * and reported as an error.
 */
export function mergeManifests(loaded: readonly LoadedManifest[]): MergedManifests {
  const merged: MergedManifests = { entries: [], warnings: [], errors: [], complete: true };
  const bySource = new Map<string, string>();
  const byName = new Map<string, { label: string; sourceId: string }>();
  for (const item of loaded) {
    if (item.error) {
      merged.errors.push(item.error);
      merged.complete = false;
      continue;
    }
    for (const entry of item.manifest?.skills ?? []) {
      const first = bySource.get(entry.sourceId);
      if (first !== undefined) {
        merged.warnings.push(
          `${displaySource(entry.source)} is listed in ${first} and in ${item.label}; the entry in ${first} wins`,
        );
        continue;
      }
      const key = `${entry.scope}:${entry.name}`;
      const clash = byName.get(key);
      if (clash) {
        merged.errors.push({
          code: 'skill_name_duplicate',
          message: `${item.label} installs "${entry.name}" (${entry.scope}) from a different source than ${clash.label}; the later entry was dropped`,
          name: entry.name,
          scope: entry.scope,
          sourceId: entry.sourceId,
          manifest: item.label,
        });
        continue;
      }
      bySource.set(entry.sourceId, item.label);
      byName.set(key, { label: item.label, sourceId: entry.sourceId });
      merged.entries.push({ ...entry, manifest: item.label, tokenHosts: item.tokenHosts });
    }
  }
  return merged;
}
