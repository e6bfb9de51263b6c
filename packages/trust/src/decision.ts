import { timingSafeEqual } from 'node:crypto';
import type { Notebook } from '@runyard/env-detection';
import {
  type Dependency,
  DependencySchema,
  type Ecosystem,
  toDependency,
} from '@runyard/env-detection';
import {
  combinedFingerprint,
  type DependencyOrigin,
  notebookSignature,
  readNotebookDependencies,
  readProjectDependencies,
} from './dependencies.js';
import { TrustError } from './errors.js';
import {
  checkSignature,
  type SignatureStatus,
  type SignOptions,
  signNotebookDependencies,
  type TrustKeyInput,
} from './signature.js';
import {
  checkAuditFields,
  type PackageChange,
  type PackageRef,
  packageKey,
  type RevokeContext,
  type TrustStore,
} from './store.js';
import { collectWarnings, type TrustWarning, WELL_KNOWN_PACKAGES } from './warnings.js';

export type TrustStatus = 'trusted' | 'untrusted' | 'signature_invalid' | 'no_dependencies';

export interface DependencyDecision {
  ecosystem: Ecosystem;
  name: string;
  spec: string;
  /** Runnable as far as this dependency goes: allowlisted, or covered by a valid signature. */
  approved: boolean;
  /** On the package allowlist in its ecosystem. */
  allowlisted: boolean;
  origin: DependencyOrigin;
}

export interface TrustDecision {
  status: TrustStatus;
  /** True exactly when `untrusted` is not empty. */
  needsApproval: boolean;
  dependencies: DependencyDecision[];
  untrusted: DependencyDecision[];
  warnings: TrustWarning[];
  /** Identifies the dependency metadata evaluated; pass it back to `approve`. */
  fingerprint: string;
  signature: SignatureStatus;
}

export interface EvaluateTrustInput {
  /** A notebook object, or its JSON text or bytes. */
  notebook: unknown;
  store: TrustStore;
  key: TrustKeyInput;
  /** Names typosquat warnings compare against besides the allowlist. */
  wellKnownPackages?: readonly string[];
  /**
   * Dependencies from project files the environment will also install (pyproject, pixi,
   * environment.yml). Only the allowlist covers them; a notebook signature does not.
   */
  projectDependencies?: readonly Dependency[];
}

/**
 * Decides whether a notebook's dependencies may be installed. Runnable (`needsApproval`
 * false) when it declares no dependencies, when its signature was made by this machine's key
 * over exactly these dependencies, or when every dependency is on the allowlist. Malformed
 * metadata throws a typed error; it is never treated as having no dependencies.
 */
export function evaluateTrust(input: EvaluateTrustInput): TrustDecision {
  const read = readNotebookDependencies(input.notebook);
  const project = readProjectDependencies(input.projectDependencies ?? []);
  const signature = checkSignature(notebookSignature(read.notebook), input.key, read.payload);
  const all = [...read.dependencies, ...project.dependencies];
  // Only the notebook's own dependencies come first and are covered by its signature.
  const signedCount = read.dependencies.length;
  const allowlisted = new Set(input.store.findTrusted(all).map(packageKey));
  // One lookup per dependency, reused below (this runs on every start of every notebook).
  const onList = new Map(all.map((dep) => [dep, allowlisted.has(packageKey(dep))]));
  const dependencies: DependencyDecision[] = all.map((dep, index) => {
    const isAllowlisted = onList.get(dep) === true;
    return {
      ecosystem: dep.ecosystem,
      name: dep.name,
      spec: dep.spec,
      approved: isAllowlisted || (signature === 'valid' && index < signedCount),
      allowlisted: isAllowlisted,
      origin: dep.origin,
    };
  });
  const untrusted = dependencies.filter((dep) => !dep.approved);
  let status: TrustStatus;
  if (dependencies.length === 0) status = 'no_dependencies';
  else if (untrusted.length === 0) status = 'trusted';
  else if (signature === 'invalid') status = 'signature_invalid';
  else status = 'untrusted';

  // Known names only matter for dependencies off the allowlist: none, no list to build.
  const needsNames = all.some((dep) => onList.get(dep) !== true);
  const knownNames = new Set<string>(
    needsNames ? (input.wellKnownPackages ?? WELL_KNOWN_PACKAGES) : [],
  );
  if (needsNames) for (const entry of input.store.listTrusted()) knownNames.add(entry.name);
  const warnings = collectWarnings({
    dependencies: all,
    knownNames,
    isAllowlisted: (dep) => onList.get(dep) ?? allowlisted.has(packageKey(dep)),
  });
  return {
    status,
    needsApproval: untrusted.length > 0,
    dependencies,
    untrusted,
    warnings,
    fingerprint:
      project.entries.length === 0
        ? read.fingerprint
        : combinedFingerprint(read.payload, project.entries),
    signature,
  };
}

function sameFingerprint(given: unknown, current: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(current);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ApproveInput {
  notebook: unknown;
  /** The `fingerprint` of the decision the caller saw. */
  fingerprint: string;
  /** Who approved (user name, `mcp:<client>`, ...); recorded in the audit log. */
  actor: string;
  /** Recorded in the audit log; a path relative to the workspace is best. */
  notebookPath?: string | null;
  /** The same project-file dependencies that were passed to `evaluateTrust`. */
  projectDependencies?: readonly Dependency[];
}

export interface ApproveResult {
  /** The notebook re-signed with this machine's key; the caller saves it. */
  notebook: Notebook;
  decision: TrustDecision;
  changes: PackageChange[];
}

export interface TrustContext {
  store: TrustStore;
  key: TrustKeyInput;
  now?: () => Date;
  wellKnownPackages?: readonly string[];
}

/**
 * Approves every dependency of the notebook (allowlist source `user-approval`) and re-signs
 * it. Refuses with `trust_fingerprint_mismatch`, approving nothing, when the dependencies are
 * no longer the ones the caller saw.
 */
export function approve(input: ApproveInput, context: TrustContext): ApproveResult {
  const { actor, notebookPath } = checkAuditFields(input);
  const read = readNotebookDependencies(input.notebook);
  const project = readProjectDependencies(input.projectDependencies ?? []);
  if (!sameFingerprint(input.fingerprint, combinedFingerprint(read.payload, project.entries))) {
    throw new TrustError(
      'trust_fingerprint_mismatch',
      'the notebook dependencies changed since this fingerprint was computed; evaluate trust again and approve the new fingerprint',
    );
  }
  const all = [...read.dependencies, ...project.dependencies];
  const changes =
    all.length === 0
      ? []
      : context.store.allow(all, { source: 'user-approval', actor, notebookPath });
  const signOptions: SignOptions = context.now ? { now: context.now } : {};
  const notebook = signNotebookDependencies(read.notebook, context.key, signOptions);
  const decision = evaluateTrust({
    notebook,
    store: context.store,
    key: context.key,
    ...(context.wellKnownPackages ? { wellKnownPackages: context.wellKnownPackages } : {}),
    ...(input.projectDependencies ? { projectDependencies: input.projectDependencies } : {}),
  });
  return { notebook, decision, changes };
}

export interface SeedFromCreateOptions {
  /**
   * True only when this create call wrote a new notebook. A create that restored an existing
   * file must not grant trust to whatever that file declares.
   */
  freshlyCreated: boolean;
  actor?: string | null;
  notebookPath?: string | null;
}

/**
 * Allowlists the dependencies passed explicitly to a create call (the call is the consent),
 * source `create-notebook`. Does nothing unless the notebook was freshly created.
 */
export function seedFromCreate(
  dependencies: readonly Dependency[],
  options: SeedFromCreateOptions,
  store: TrustStore,
): PackageChange[] {
  if (options.freshlyCreated !== true) return [];
  if (!Array.isArray(dependencies)) {
    throw new TrustError('trust_input_invalid', 'dependencies must be a list');
  }
  // Names are re-derived from the specs: a caller-supplied name that disagrees with its spec
  // must not allowlist one package while another gets installed.
  const refs: PackageRef[] = dependencies.map((value) => {
    const parsed = DependencySchema.safeParse(value);
    if (!parsed.success) throw new TrustError('trust_input_invalid', 'malformed dependency');
    try {
      const dep = toDependency(parsed.data.spec, parsed.data.ecosystem);
      return { ecosystem: dep.ecosystem, name: dep.name };
    } catch (error) {
      throw new TrustError('trust_metadata_invalid', (error as Error).message, { cause: error });
    }
  });
  if (refs.length === 0) return [];
  return store.allow(refs, {
    source: 'create-notebook',
    actor: options.actor ?? null,
    notebookPath: options.notebookPath ?? null,
  });
}

/** Removes packages from the allowlist; every revocation gets an audit row. */
export function revoke(
  packages: readonly PackageRef[],
  context: RevokeContext,
  store: TrustStore,
): PackageChange[] {
  return store.revoke(packages, context);
}

/** The operations bound to one store and key, as the apps use them. */
export interface TrustService {
  evaluate(
    notebook: unknown,
    options?: { projectDependencies?: readonly Dependency[] },
  ): TrustDecision;
  approve(input: ApproveInput): ApproveResult;
  seedFromCreate(
    dependencies: readonly Dependency[],
    options: SeedFromCreateOptions,
  ): PackageChange[];
  revoke(packages: readonly PackageRef[], context?: RevokeContext): PackageChange[];
  sign(notebook: unknown): Notebook;
}

export function createTrustService(context: TrustContext): TrustService {
  return {
    evaluate: (notebook, options = {}) =>
      evaluateTrust({
        notebook,
        ...options,
        store: context.store,
        key: context.key,
        ...(context.wellKnownPackages ? { wellKnownPackages: context.wellKnownPackages } : {}),
      }),
    approve: (input) => approve(input, context),
    seedFromCreate: (dependencies, options) => seedFromCreate(dependencies, options, context.store),
    revoke: (packages, revokeContext = {}) => revoke(packages, revokeContext, context.store),
    sign: (notebook) =>
      signNotebookDependencies(notebook, context.key, context.now ? { now: context.now } : {}),
  };
}
