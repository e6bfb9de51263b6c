import { sealBundle } from '../digest.js';
import type { ConfigBundle, UnsealedConfigBundle } from '../schema.js';

/** A realistic bundle before sealing: one builtin override, one named command profile. */
export function unsealedBundle(): UnsealedConfigBundle {
  return {
    metadata: {
      id: 'ws-1.agents',
      revision: 3,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: {
        source: 'workspace-server',
        detail: 'synced from https://example.com/org/repo',
      },
    },
    profiles: [
      {
        selector: { kind: 'builtin', value: 'python-kernel' },
        worker: { kind: 'kernel', runtime: 'python' },
        grants: ['data'],
      },
      {
        selector: { kind: 'named', value: 'reviewer' },
        label: 'Code reviewer',
        worker: {
          kind: 'command',
          argv: ['node', 'agent.js', '--mode=review'],
          cwd: 'agents/review',
        },
        grants: ['github', 'data', 'egress', 'gpu'],
      },
    ],
    declarations: [
      { kind: 'secret_ref', name: 'github', reference: 'secret:github_token' },
      { kind: 'mount_grant', name: 'data', reference: 'mount:workspace-data' },
      { kind: 'network_policy', name: 'egress', reference: 'network:github-only' },
      { kind: 'capability_grant', name: 'gpu', reference: 'capability:gpu' },
      { kind: 'shell_policy', name: 'sh', reference: 'shell:restricted' },
    ],
  };
}

export function sampleBundle(mutate?: (bundle: UnsealedConfigBundle) => void): ConfigBundle {
  const bundle = unsealedBundle();
  mutate?.(bundle);
  return sealBundle(bundle);
}

/** A deep copy as plain JSON, for tests that tamper with a bundle without resealing it. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
