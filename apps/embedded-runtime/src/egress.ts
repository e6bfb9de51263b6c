import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type GrantedReference, parseReference } from '@runyard/config-bundles';
import {
  caEnvironment,
  createSecretPlaceholders,
  type Destination,
  type EgressEvent,
  type EgressProxy,
  installCaFiles,
  loadOrCreateProxyCa,
  type ProxyCa,
  proxyEnvironment,
  SandboxError,
  type SandboxMount,
  type SecretGrant,
  startEgressProxy,
} from '@runyard/sandbox';
import { isInside } from './sandboxing.js';

/** A host-defined network policy, named by the token of a `network:<token>` reference. */
export interface NetworkPolicy {
  /** Where a worker granted this policy may connect (through the egress proxy). */
  destinations: readonly Destination[];
  /**
   * Secret references (`secret:github_token`) this policy lets travel to its destinations. A
   * policy without secrets only opens its destinations (tunneled, not inspected).
   */
  secrets?: readonly string[];
}

/** A host-defined mount, named by the token of a `mount:<token>` reference. */
export interface MountPolicy {
  /** Absolute host path; resolved to its real path when a worker starts. */
  path: string;
  readOnly?: boolean;
}

/** How this host resolves the references of `mount_grant` and `network_policy` declarations. */
export interface HostGrantPolicy {
  mounts?: Readonly<Record<string, MountPolicy>>;
  network?: Readonly<Record<string, NetworkPolicy>>;
}

export interface EgressOptions {
  /** Extra CA certificates (PEM) the proxy trusts for upstreams, beside the system store. */
  upstreamCa?: readonly string[];
  /** Scrub secret values an upstream echoes back (default true). */
  scrubResponses?: boolean;
}

function token(kind: 'mount_grant' | 'network_policy' | 'secret_ref', reference: string) {
  return parseReference(kind, reference)?.token;
}

function lookup<T>(table: Readonly<Record<string, T>> | undefined, key: string | undefined) {
  return key !== undefined && table && Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * The profile's mount grants as real host paths, or undefined when it has none (the workspace is
 * then the writable mount). Fails closed: a grant the host does not define, a missing path, or a
 * path inside a hidden dir (the runtime's own data) is `grant_unresolved`.
 */
export function resolveMounts(
  grants: readonly GrantedReference[],
  policy: HostGrantPolicy,
  hidden: readonly string[],
): SandboxMount[] | undefined {
  if (grants.length === 0) return undefined;
  return grants.map((grant) => {
    const defined = lookup(policy.mounts, token('mount_grant', grant.reference));
    if (!defined) {
      throw new SandboxError(
        'grant_unresolved',
        `mount grant ${grant.name} (${grant.reference}) is not defined on this runtime host`,
      );
    }
    let real: string | undefined;
    try {
      real = isAbsolute(defined.path) ? realpathSync(defined.path) : undefined;
    } catch {
      real = undefined;
    }
    if (!real || real === '/' || hidden.some((dir) => isInside(real, dir))) {
      throw new SandboxError(
        'grant_unresolved',
        `mount grant ${grant.name} does not resolve to a usable host directory`,
      );
    }
    return { path: real, ...(defined.readOnly ? { readOnly: true } : {}) };
  });
}

export interface EgressPlan {
  grants: SecretGrant[];
  allow: Destination[];
  /** Env var name → placeholder. */
  placeholders: Record<string, string>;
}

/**
 * Which secret may go where: a secret reaches the destinations of every granted network policy
 * that names its reference; policies naming no secret only open their destinations. The worker
 * gets one fresh placeholder per secret.
 */
export function planEgress(
  secretGrants: readonly GrantedReference[],
  networkGrants: readonly GrantedReference[],
  values: ReadonlyMap<string, string>,
  envName: (declaration: string) => string,
  policy: HostGrantPolicy,
): EgressPlan {
  const destinations = new Map<string, Destination[]>(secretGrants.map((s) => [s.name, []]));
  const allow: Destination[] = [];
  for (const grant of networkGrants) {
    const defined = lookup(policy.network, token('network_policy', grant.reference));
    if (!defined) {
      throw new SandboxError(
        'grant_unresolved',
        `network policy ${grant.name} (${grant.reference}) is not defined on this runtime host`,
      );
    }
    const carried = new Set(
      (defined.secrets ?? []).map((ref) => token('secret_ref', ref)).filter((t) => t),
    );
    if (carried.size === 0) {
      allow.push(...defined.destinations);
      continue;
    }
    for (const secret of secretGrants) {
      if (carried.has(token('secret_ref', secret.reference)))
        destinations.get(secret.name)?.push(...defined.destinations);
    }
  }
  const names = secretGrants.map((s) => envName(s.name));
  const placeholders = createSecretPlaceholders(names);
  const grants: SecretGrant[] = secretGrants.map((secret) => {
    const name = envName(secret.name);
    return {
      secret: name,
      value: values.get(secret.name) ?? '',
      placeholder: placeholders[name] as string,
      destinations: destinations.get(secret.name) ?? [],
    };
  });
  return { grants, allow, placeholders: { ...placeholders } };
}

/** A log line for a proxy decision: names of secrets, never values; placeholders masked. */
export function describeEgressEvent(workerId: string, event: EgressEvent): string {
  const code = 'code' in event && event.code ? ` (${event.code})` : '';
  if (event.type === 'connect')
    return `egress ${workerId}: CONNECT ${event.host}:${event.port} ${event.outcome}${code}`;
  if (event.type === 'request') {
    const used = event.credentials.length > 0 ? ` using ${event.credentials.join(',')}` : '';
    return `egress ${workerId}: ${event.method} ${event.scheme}://${event.host}:${event.port}${event.path} ${event.outcome}${code}${used}`;
  }
  return `egress ${workerId}: error ${event.message}`;
}

/** One worker's egress: its proxy, the CA files it trusts, and the env that points at them. */
export interface WorkerEgress {
  /** Proxy and CA variables for the worker's environment. */
  env: Record<string, string>;
  /** Set when sandboxed: the proxy's Unix socket, bound into the sandbox. */
  proxySocket?: string;
  /** Holds the socket and CA certificate; mounted read-only into the sandbox. */
  dir: string;
  close(): Promise<void>;
}

/** Owns the per-runtime proxy CA (created on first use) and starts per-worker proxies. */
export class EgressManager {
  private ca: ProxyCa | undefined;

  constructor(
    private readonly options: {
      dataDir: string;
      egress: EgressOptions;
      onEvent: (workerId: string, event: EgressEvent) => void;
    },
  ) {}

  /** Sockets and CA copies a crashed run left behind. */
  cleanLeftovers(): void {
    rmSync(join(this.options.dataDir, 'egress'), { recursive: true, force: true });
  }

  private proxyCa(): ProxyCa {
    this.ca ??= loadOrCreateProxyCa(join(this.options.dataDir, 'proxy-ca'));
    return this.ca;
  }

  /**
   * Starts the worker's proxy: on a Unix socket when sandboxed (the sandbox has no other way
   * out), else on 127.0.0.1 with an ephemeral port.
   */
  async start(workerId: string, plan: EgressPlan, sandboxed: boolean): Promise<WorkerEgress> {
    const ca = this.proxyCa();
    // Short: a Unix socket path must fit in ~107 bytes.
    const dir = join(this.options.dataDir, 'egress', randomBytes(4).toString('hex'));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      const caFiles = installCaFiles(ca, dir);
      const proxy: EgressProxy = await startEgressProxy({
        grants: plan.grants,
        allow: plan.allow,
        ca,
        listen: sandboxed
          ? { socketPath: join(dir, 'proxy.sock') }
          : { host: '127.0.0.1', port: 0 },
        ...(this.options.egress.upstreamCa ? { upstreamCa: this.options.egress.upstreamCa } : {}),
        ...(this.options.egress.scrubResponses === false ? { scrubResponses: false } : {}),
        onEvent: (event) => this.options.onEvent(workerId, event),
      });
      let closed: Promise<void> | undefined;
      return {
        // Inside the sandbox the proxy variables are set by the launcher (in-sandbox forwarder).
        env: {
          ...(sandboxed || !proxy.url ? {} : proxyEnvironment(proxy.url)),
          ...caEnvironment(caFiles),
        },
        ...(sandboxed && proxy.socketPath ? { proxySocket: proxy.socketPath } : {}),
        dir,
        close() {
          closed ??= proxy
            .close()
            .catch(() => undefined)
            .then(() => rmSync(dir, { recursive: true, force: true }));
          return closed;
        },
      };
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }
}
