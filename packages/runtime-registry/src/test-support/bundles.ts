import { type ConfigBundle, sealBundle } from '@runyard/config-bundles';

/** A sealed bundle with one named command profile; `revision` varies the content. */
export function agentBundle(revision = 1, argv: string[] = ['node', 'agent.js']): ConfigBundle {
  return sealBundle({
    metadata: {
      id: 'ws-1.agents',
      revision,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'workspace-server' },
    },
    profiles: [
      {
        selector: { kind: 'named', value: 'reviewer' },
        worker: { kind: 'command', argv, cwd: 'agents' },
        grants: ['github'],
      },
    ],
    declarations: [{ kind: 'secret_ref', name: 'github', reference: 'secret:github_token' }],
  });
}

/** A bundle whose content no longer matches its digest. */
export function tamperedBundle(): ConfigBundle {
  const bundle = structuredClone(agentBundle(7));
  bundle.metadata.workspaceId = 'ws-2';
  return bundle;
}

export function workerRequest(bundle: ConfigBundle, workerId?: string): Record<string, unknown> {
  return {
    ...(workerId === undefined ? {} : { workerId }),
    profile: { kind: 'named', value: 'reviewer' },
    configBundle: { id: bundle.metadata.id, digest: bundle.metadata.digest },
  };
}
