import { sealBundle } from '@runyard/config-bundles';

type BundleInput = Parameters<typeof sealBundle>[0];

/** A sealed bundle for workspace `ws-1` holding the given worker profiles. */
export function sealTestBundle(
  profiles: unknown[],
  declarations: unknown[] = [],
): ReturnType<typeof sealBundle> {
  return sealBundle({
    metadata: {
      id: 'ws-1.agents',
      revision: 1,
      workspaceId: 'ws-1',
      createdAt: '2025-01-02T03:04:05Z',
      provenance: { source: 'test' },
    },
    profiles,
    declarations,
  } as BundleInput);
}
