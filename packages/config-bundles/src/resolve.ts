import { BUILTIN_PROFILES, isBuiltinProfileName } from './builtins.js';
import { type DeclarationKind, parseReference } from './declarations.js';
import { ConfigBundleError } from './errors.js';
import { formatFieldPath } from './forbidden-content.js';
import {
  type BundleProfile,
  type ConfigBundle,
  type ConfigDeclaration,
  CreateWorkerRequest,
  type GrantedReference,
  type ProfileSelector,
  type ResolvedGrants,
  type ResolvedWorkerSpec,
} from './schema.js';
import { describeIssue, validateBundle } from './validate.js';

export interface ResolveWorkerSpecInput {
  /** Parsed here: it usually comes straight from an HTTP or MCP body. */
  request: CreateWorkerRequest | unknown;
  /** The bundle the request references, as loaded from a store. Validated again here. */
  bundle?: ConfigBundle | unknown;
}

const GRANT_GROUP: Record<DeclarationKind, keyof ResolvedGrants> = {
  secret_ref: 'secrets',
  mount_grant: 'mounts',
  network_policy: 'network',
  shell_policy: 'shell',
  git_policy: 'git',
  capability_grant: 'capabilities',
};

function emptyGrants(): ResolvedGrants {
  return { secrets: [], mounts: [], network: [], shell: [], git: [], capabilities: [] };
}

function describeSelector(selector: ProfileSelector): string {
  // Selector values are validated identifiers, so they are safe to name.
  return `${selector.kind}:${selector.value}`;
}

function parseRequest(request: unknown): CreateWorkerRequest {
  const parsed = CreateWorkerRequest.safeParse(request);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = formatFieldPath(issue.path);
  const code = issue.path[0] === 'profile' ? 'invalid_profile_selector' : 'invalid_worker_request';
  throw new ConfigBundleError(code, describeIssue(issue), { field });
}

function loadBundle(request: CreateWorkerRequest, bundle: unknown): ConfigBundle | undefined {
  const ref = request.configBundle;
  if (bundle === undefined) {
    if (ref) {
      throw new ConfigBundleError(
        'config_bundle_missing',
        `config bundle ${ref.id} is not available on this runtime; sync it before creating the worker`,
        { field: 'configBundle' },
      );
    }
    return undefined;
  }
  const validated = validateBundle(bundle);
  if (ref && validated.metadata.id !== ref.id) {
    throw new ConfigBundleError(
      'config_bundle_missing',
      `config bundle ${ref.id} was not supplied (a different bundle was)`,
      { field: 'configBundle.id' },
    );
  }
  if (ref && validated.metadata.digest !== ref.digest) {
    throw new ConfigBundleError(
      'config_bundle_digest_mismatch',
      `config bundle ${ref.id} has a different digest than the request pins`,
      { field: 'configBundle.digest' },
    );
  }
  return validated;
}

function collectGrants(profile: BundleProfile, bundle: ConfigBundle): ResolvedGrants {
  const byName = new Map<string, ConfigDeclaration>(
    bundle.declarations.map((declaration) => [declaration.name, declaration]),
  );
  const grants = emptyGrants();
  for (const name of profile.grants) {
    // validateBundle guarantees every grant names a declaration.
    const declaration = byName.get(name)!;
    const entry: GrantedReference = { name: declaration.name, reference: declaration.reference };
    grants[GRANT_GROUP[declaration.kind]].push(entry);
  }
  return grants;
}

function capabilityMatches(requested: string, granted: GrantedReference): boolean {
  if (requested === granted.name || requested === granted.reference) return true;
  return parseReference('capability_grant', granted.reference)?.token === requested;
}

function checkCapabilities(
  request: CreateWorkerRequest,
  grants: ResolvedGrants,
  selector: ProfileSelector,
): void {
  (request.requestedCapabilities ?? []).forEach((requested, index) => {
    if (!grants.capabilities.some((granted) => capabilityMatches(requested, granted))) {
      throw new ConfigBundleError(
        'capability_not_granted',
        `requestedCapabilities[${index}] is not granted to profile ${describeSelector(selector)}`,
        { field: `requestedCapabilities[${index}]` },
      );
    }
  });
}

/**
 * Turns a create-worker request into the spec a runtime host launches from. Builtin profiles
 * (`python-kernel`, `deno-kernel`) work without a bundle and are granted nothing
 * (`mode: 'builtin'`); a builtin the bundle also declares takes the bundle's grants. A named
 * profile needs a bundle that declares it. The result holds references only; the host resolves
 * them with its own policy at launch.
 */
export function resolveWorkerSpec(input: ResolveWorkerSpecInput): ResolvedWorkerSpec {
  const request = parseRequest(input.request);
  const selector = request.profile;
  if (selector.kind === 'builtin' && !isBuiltinProfileName(selector.value)) {
    throw new ConfigBundleError(
      'invalid_profile_selector',
      `profile ${describeSelector(selector)} is not a builtin profile (${Object.keys(BUILTIN_PROFILES).join(', ')})`,
      { field: 'profile' },
    );
  }
  const bundle = loadBundle(request, input.bundle);
  const workerId = request.workerId === undefined ? {} : { workerId: request.workerId };

  const profile = bundle?.profiles.find(
    (candidate) =>
      candidate.selector.kind === selector.kind && candidate.selector.value === selector.value,
  );
  if (!bundle || !profile) {
    if (selector.kind === 'named') {
      if (!bundle) {
        throw new ConfigBundleError(
          'config_bundle_required',
          `profile ${describeSelector(selector)} is defined by a config bundle; pass configBundle`,
          { field: 'configBundle' },
        );
      }
      throw new ConfigBundleError(
        'invalid_profile_selector',
        `config bundle ${bundle.metadata.id} declares no profile ${describeSelector(selector)}`,
        { field: 'profile' },
      );
    }
    const grants = emptyGrants();
    checkCapabilities(request, grants, selector);
    const worker = BUILTIN_PROFILES[selector.value as keyof typeof BUILTIN_PROFILES];
    return { mode: 'builtin', ...workerId, profile: selector, worker: { ...worker }, grants };
  }

  const grants = collectGrants(profile, bundle);
  checkCapabilities(request, grants, selector);
  return {
    mode: 'bundle',
    ...workerId,
    profile: selector,
    ...(profile.label === undefined ? {} : { label: profile.label }),
    worker: structuredClone(profile.worker),
    configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
    grants,
  };
}
