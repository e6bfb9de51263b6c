import { type Ecosystem, normalizeCondaName, normalizePackageName } from '@runyard/env-detection';
import { z } from 'zod';
import { TrustError } from './errors.js';

export const TRUST_SOURCES = [
  'default-seed',
  'user-approval',
  'create-notebook',
  'project-file',
] as const;
export const TrustSourceSchema = z.enum(TRUST_SOURCES);
export type TrustSource = z.infer<typeof TrustSourceSchema>;

export const AUDIT_ACTIONS = ['seed', 'approve', 'revoke'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What an allowlist change did to one package. */
export type AuditEffect = 'added' | 'already_trusted' | 'removed' | 'not_trusted';

export interface PackageRef {
  ecosystem: Ecosystem;
  name: string;
}

export interface TrustedPackage extends PackageRef {
  source: TrustSource;
  /** RFC 3339. */
  approvedAt: string;
}

export interface AuditEntry extends PackageRef {
  id: number;
  /** RFC 3339. */
  at: string;
  action: AuditAction;
  effect: AuditEffect;
  source: TrustSource | null;
  actor: string | null;
  notebookPath: string | null;
}

export interface PackageChange extends PackageRef {
  effect: AuditEffect;
}

export interface AllowContext {
  source: TrustSource;
  actor?: string | null;
  notebookPath?: string | null;
  /**
   * Whether packages that were already allowlisted get an audit row too. Approvals say yes
   * (the user's decision is worth recording); the seeding done on every store open says no.
   */
  auditUnchanged?: boolean;
}

export interface RevokeContext {
  actor?: string | null;
  notebookPath?: string | null;
}

/**
 * The package allowlist plus its append-only audit log. Names arrive normalised
 * (`normalizePackageName` for pypi, `normalizeCondaName` for conda). Each call is atomic:
 * either every package and its audit row is written, or nothing is.
 */
export interface TrustStore {
  /** The allowlisted entries among `packages`. */
  findTrusted(packages: readonly PackageRef[]): TrustedPackage[];
  listTrusted(): TrustedPackage[];
  /** Adds packages; an existing entry keeps its original source and time. */
  allow(packages: readonly PackageRef[], context: AllowContext): PackageChange[];
  revoke(packages: readonly PackageRef[], context?: RevokeContext): PackageChange[];
  /** Audit rows, oldest first. */
  auditLog(options?: { limit?: number }): AuditEntry[];
}

export const MAX_PACKAGE_NAME_LENGTH = 256;
export const MAX_ACTOR_LENGTH = 256;
export const MAX_NOTEBOOK_PATH_LENGTH = 4096;
const PACKAGE_NAME = /^[a-z0-9_][a-z0-9._+-]*$/;

export function normalizeName(ecosystem: Ecosystem, name: string): string {
  return ecosystem === 'pypi' ? normalizePackageName(name) : normalizeCondaName(name);
}

/**
 * The shape `{ ecosystem: 'pypi' | 'conda', name: 1..256 chars }`, checked by hand: this runs
 * for every package of every trust decision, and a zod parse per reference was a third of a
 * 50-package lookup.
 */
function plainRef(value: unknown): { ecosystem: Ecosystem; name: string } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { ecosystem, name } = value as { ecosystem?: unknown; name?: unknown };
  if (ecosystem !== 'pypi' && ecosystem !== 'conda') return undefined;
  if (typeof name !== 'string' || name.length < 1 || name.length > MAX_PACKAGE_NAME_LENGTH)
    return undefined;
  return { ecosystem, name };
}

/** Validates and normalises package references before they reach a store. */
export function toPackageRefs(packages: readonly unknown[]): PackageRef[] {
  if (!Array.isArray(packages))
    throw new TrustError('trust_input_invalid', 'packages must be a list');
  return packages.map((value) => {
    const ref = plainRef(value);
    if (!ref) {
      throw new TrustError(
        'trust_input_invalid',
        'a package needs an ecosystem (pypi or conda) and a name',
      );
    }
    const name = normalizeName(ref.ecosystem, ref.name.trim());
    if (!PACKAGE_NAME.test(name)) {
      throw new TrustError(
        'trust_input_invalid',
        'a package name has characters no package name uses',
      );
    }
    return { ecosystem: ref.ecosystem, name };
  });
}

/** Validates the free-text audit fields (they are stored and shown, never interpreted). */
export function checkAuditText(
  value: string | null | undefined,
  what: string,
  max: number,
): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > max || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new TrustError(
      'trust_input_invalid',
      `${what} must be a string of at most ${max} characters without control characters`,
    );
  }
  return value;
}

/** The actor and notebook path every audited call records, validated once. */
export function checkAuditFields(fields: {
  actor?: string | null | undefined;
  notebookPath?: string | null | undefined;
}): { actor: string | null; notebookPath: string | null } {
  return {
    actor: checkAuditText(fields.actor, 'actor', MAX_ACTOR_LENGTH),
    notebookPath: checkAuditText(fields.notebookPath, 'notebook path', MAX_NOTEBOOK_PATH_LENGTH),
  };
}

export function checkSource(value: unknown): TrustSource {
  const parsed = TrustSourceSchema.safeParse(value);
  if (!parsed.success) {
    throw new TrustError(
      'trust_input_invalid',
      `source must be one of ${TRUST_SOURCES.join(', ')}`,
    );
  }
  return parsed.data;
}

export function packageKey(ref: PackageRef): string {
  return `${ref.ecosystem}:${ref.name}`;
}

export interface MemoryTrustStoreOptions {
  /** Seeded into both ecosystems on creation, like the SQLite store does on open. */
  defaultTrustedPackages?: readonly string[];
  now?: () => Date;
}

/**
 * An in-memory `TrustStore` for unit tests and embedders that keep nothing on disk. It forgets
 * every approval when the process exits.
 */
export function createMemoryTrustStore(options: MemoryTrustStoreOptions = {}): TrustStore {
  const now = () => (options.now?.() ?? new Date()).toISOString();
  const trusted = new Map<string, TrustedPackage>();
  const audit: AuditEntry[] = [];
  const store: TrustStore = {
    findTrusted(packages) {
      return toPackageRefs(packages).flatMap((ref) => {
        const entry = trusted.get(packageKey(ref));
        return entry ? [{ ...entry }] : [];
      });
    },
    listTrusted() {
      return [...trusted.values()].map((entry) => ({ ...entry }));
    },
    allow(packages, context) {
      const refs = toPackageRefs(packages);
      const source = checkSource(context.source);
      const { actor, notebookPath } = checkAuditFields(context);
      const at = now();
      const action: AuditAction = source === 'user-approval' ? 'approve' : 'seed';
      return refs.map((ref) => {
        const key = packageKey(ref);
        const effect: AuditEffect = trusted.has(key) ? 'already_trusted' : 'added';
        if (effect === 'added') trusted.set(key, { ...ref, source, approvedAt: at });
        if (effect === 'added' || context.auditUnchanged !== false) {
          audit.push({
            id: audit.length + 1,
            at,
            action,
            effect,
            source,
            actor,
            notebookPath,
            ...ref,
          });
        }
        return { ...ref, effect };
      });
    },
    revoke(packages, context = {}) {
      const refs = toPackageRefs(packages);
      const { actor, notebookPath } = checkAuditFields(context);
      const at = now();
      return refs.map((ref) => {
        const effect: AuditEffect = trusted.delete(packageKey(ref)) ? 'removed' : 'not_trusted';
        audit.push({
          id: audit.length + 1,
          at,
          action: 'revoke',
          effect,
          source: null,
          actor,
          notebookPath,
          ...ref,
        });
        return { ...ref, effect };
      });
    },
    auditLog(opts = {}) {
      const rows = audit.map((entry) => ({ ...entry }));
      return opts.limit === undefined ? rows : rows.slice(-opts.limit);
    },
  };
  seedDefaults(store, options.defaultTrustedPackages ?? DEFAULT_TRUSTED_PACKAGES);
  return store;
}

/**
 * Packages trusted out of the box, in both ecosystems: the kernel and the common scientific
 * stack. Overridable per store; a name removed later is not revoked where it was seeded.
 */
export const DEFAULT_TRUSTED_PACKAGES: readonly string[] = Object.freeze([
  'ipykernel',
  'ipywidgets',
  'anywidget',
  'numpy',
  'scipy',
  'pandas',
  'polars',
  'matplotlib',
  'plotly',
  'altair',
  'pyarrow',
  'nbformat',
]);

/** Seeds names into both ecosystems; existing entries (and their sources) are left alone. */
export function seedDefaults(store: TrustStore, names: readonly string[]): PackageChange[] {
  if (!Array.isArray(names)) {
    throw new TrustError('trust_input_invalid', 'default trusted packages must be a list of names');
  }
  const refs = names.flatMap((name) => [
    { ecosystem: 'pypi' as const, name },
    { ecosystem: 'conda' as const, name },
  ]);
  return store.allow(refs, { source: 'default-seed', actor: null, auditUnchanged: false });
}
