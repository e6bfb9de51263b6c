import { describe, expect, it } from 'vitest';
import { canonicalBundleJson, computeBundleDigest, sealBundle } from './digest.js';
import type { UnsealedConfigBundle } from './schema.js';
import { clone, sampleBundle, unsealedBundle } from './test-support/bundles.js';
import { validateBundle } from './validate.js';

// The vectors published in README.md; other implementations must reproduce them byte for byte.
const minimal: UnsealedConfigBundle = {
  metadata: {
    id: 'example',
    revision: 1,
    workspaceId: 'ws',
    createdAt: '2025-01-01T00:00:00Z',
    provenance: { source: 'test' },
  },
  profiles: [],
  declarations: [],
};
const minimalCanonical =
  '{"declarations":[],"metadata":{"createdAt":"2025-01-01T00:00:00Z","id":"example","provenance":{"source":"test"},"revision":1,"workspaceId":"ws"},"profiles":[]}';

const unicode: UnsealedConfigBundle = {
  metadata: {
    id: 'ws-7:agents.v2',
    revision: 12,
    workspaceId: 'ws-7',
    createdAt: '2025-06-30T12:00:00.5+02:00',
    provenance: { source: 'git', detail: 'Größe "quoted" \u00e9\u20ac\ud83d\ude00' },
  },
  profiles: [
    {
      selector: { kind: 'named', value: 'reviewer' },
      label: 'Réviseur',
      worker: { kind: 'command', argv: ['deno', 'run', 'main.ts'], cwd: 'agents/review' },
      grants: ['gh', 'net'],
    },
  ],
  declarations: [
    { kind: 'secret_ref', name: 'gh', reference: 'secret:github_token' },
    { kind: 'network_policy', name: 'net', reference: 'network-policy:github.com' },
  ],
};

// Cross-checked with Python: json.dumps(b, sort_keys=True, separators=(',', ':'),
// ensure_ascii=False) + hashlib.sha256 (equivalent to RFC 8785 for these ASCII keys).
const unicodeCanonical =
  '{"declarations":[{"kind":"secret_ref","name":"gh","reference":"secret:github_token"},{"kind":"network_policy","name":"net","reference":"network-policy:github.com"}],"metadata":{"createdAt":"2025-06-30T12:00:00.5+02:00","id":"ws-7:agents.v2","provenance":{"detail":"Größe \\"quoted\\" é€😀","source":"git"},"revision":12,"workspaceId":"ws-7"},"profiles":[{"grants":["gh","net"],"label":"Réviseur","selector":{"kind":"named","value":"reviewer"},"worker":{"argv":["deno","run","main.ts"],"cwd":"agents/review","kind":"command"}}]}';

describe('computeBundleDigest', () => {
  it('matches the published test vectors', () => {
    expect(canonicalBundleJson(minimal)).toBe(minimalCanonical);
    expect(computeBundleDigest(minimal)).toBe(
      '3c3dc9494f3ffef0fe0a8ba2e687418e3d623fb104ae425df794b928457af6bc',
    );
    expect(canonicalBundleJson(unicode)).toBe(unicodeCanonical);
    expect(computeBundleDigest(unicode)).toBe(
      'a900a1a163374075f22589131a99774676d6641e01cfa5856f4c3282c8e46083',
    );
  });

  it('ignores metadata.digest, key order and whitespace', () => {
    const sealed = sealBundle(minimal);
    expect(computeBundleDigest(sealed)).toBe(computeBundleDigest(minimal));
    const reordered = JSON.parse(
      '{ "profiles": [], "declarations": [],\n "metadata": {"provenance": {"source":"test"}, "workspaceId":"ws", "revision":1, "id":"example", "createdAt":"2025-01-01T00:00:00Z", "digest":"00"}}',
    );
    expect(computeBundleDigest(reordered)).toBe(sealed.metadata.digest);
  });

  it('changes with any content change', () => {
    const base = sampleBundle();
    const variants = [
      sampleBundle((b) => {
        b.metadata.revision = 4;
      }),
      sampleBundle((b) => {
        b.profiles[1]!.label = 'Code reviewer ';
      }),
      sampleBundle((b) => {
        b.profiles[1]!.grants.reverse();
      }),
      sampleBundle((b) => {
        b.declarations.pop();
      }),
    ];
    const digests = new Set([base, ...variants].map((b) => b.metadata.digest));
    expect(digests.size).toBe(variants.length + 1);
  });

  it('seals bundles that validate', () => {
    const sealed = sampleBundle();
    expect(validateBundle(clone(sealed))).toEqual(sealed);
    expect(sealed.metadata.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(unsealedBundle().metadata.digest).toBeUndefined();
  });
});
