import type { Ecosystem } from '@runyard/env-detection';
import type { TrustDecision } from './decision.js';
import { TrustError } from './errors.js';

export interface ApproveDependenciesAction {
  kind: 'approve_dependencies';
  message: string;
  untrusted: { ecosystem: Ecosystem; name: string; spec: string }[];
  mcp: {
    tool: 'manage_dependencies';
    arguments: { notebook_id: string; trust: true; fingerprint: string };
  };
  http: {
    method: 'POST';
    path: string;
    body: { trust: true; fingerprint: string };
  };
}

/** Percent-encodes a notebook id as one path segment; dot segments would change the path. */
function pathSegment(id: string): string {
  if (typeof id !== 'string' || id === '' || id === '.' || id === '..') {
    throw new TrustError(
      'trust_input_invalid',
      'a notebook id must be a non-empty string other than "." or ".."',
    );
  }
  return encodeURIComponent(id).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The machine-readable way out of an `awaiting_trust` state: which packages block the notebook
 * and the exact MCP and HTTP calls that approve them. `null` when nothing needs approval.
 */
export function buildNextAction(
  decision: TrustDecision,
  options: { notebookId: string },
): ApproveDependenciesAction | null {
  if (!decision.needsApproval) return null;
  const path = `/api/notebooks/${pathSegment(options.notebookId)}/dependencies`;
  const untrusted = decision.untrusted.map(({ ecosystem, name, spec }) => ({
    ecosystem,
    name,
    spec,
  }));
  const names = untrusted.map((dep) => `${dep.name} (${dep.ecosystem})`);
  const listed =
    names.length > 10
      ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more`
      : names.join(', ');
  const reason =
    decision.status === 'signature_invalid'
      ? 'its trust signature is not valid here (signed elsewhere or modified) and '
      : '';
  return {
    kind: 'approve_dependencies',
    message: `The notebook cannot start: ${reason}these packages are not approved: ${listed}. Approve them with the manage_dependencies tool (trust: true) or POST ${path}, passing the fingerprint.`,
    untrusted,
    mcp: {
      tool: 'manage_dependencies',
      arguments: {
        notebook_id: options.notebookId,
        trust: true,
        fingerprint: decision.fingerprint,
      },
    },
    http: {
      method: 'POST',
      path,
      body: { trust: true, fingerprint: decision.fingerprint },
    },
  };
}
