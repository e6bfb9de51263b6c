import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECLARATION_PREFIXES, type DeclarationKind } from './declarations.js';
import { canonicalJson, computeBundleDigest, sealBundle } from './digest.js';
import { findForbiddenContent } from './forbidden-content.js';
import type { ConfigDeclaration, UnsealedConfigBundle } from './schema.js';
import { parseBundleJson, validateBundle } from './validate.js';

const safe = (text: string) => findForbiddenContent(text) === undefined;

const identifier = fc
  .stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,24}$/)
  .filter((value) => !value.includes('..') && safe(value));

const token = fc.stringMatching(/^[A-Za-z0-9:_.@+-]{1,24}$/).filter(safe);

// Any printable Unicode (astral planes included), minus what validation refuses on purpose.
const freeText = fc
  .string({ unit: 'binary', maxLength: 40 })
  .filter((value) => !/[\u0000-\u001f\u007f]/.test(value) && safe(value));

const relativePath = fc
  .array(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,12}$/), { minLength: 1, maxLength: 4 })
  .map((segments) => segments.join('/'))
  .filter((value) => !value.split('/').includes('..') && safe(value));

const kinds = Object.keys(DECLARATION_PREFIXES) as DeclarationKind[];

const declarations = fc
  .uniqueArray(identifier, { maxLength: 8 })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) =>
        fc
          .constantFrom(...kinds)
          .chain((kind) =>
            fc
              .tuple(fc.constantFrom(...DECLARATION_PREFIXES[kind]), token)
              .map(
                ([prefix, value]): ConfigDeclaration => ({ kind, name, reference: prefix + value }),
              ),
          ),
      ),
    ),
  );

const worker = fc.oneof(
  fc.record({
    kind: fc.constant('kernel' as const),
    runtime: fc.constantFrom('python' as const, 'deno' as const),
  }),
  fc.record(
    {
      kind: fc.constant('command' as const),
      argv: fc.array(freeText, { minLength: 1, maxLength: 4 }),
      cwd: relativePath,
    },
    { requiredKeys: ['kind', 'argv'] },
  ),
);

const bundleArbitrary: fc.Arbitrary<UnsealedConfigBundle> = declarations.chain((decls) =>
  fc.record({
    metadata: fc.record(
      {
        id: identifier,
        revision: fc.nat(),
        workspaceId: identifier,
        createdAt: fc
          .date({
            min: new Date('1970-01-01T00:00:00Z'),
            max: new Date('9999-12-31T23:59:59Z'),
            noInvalidDate: true,
          })
          .map((date) => date.toISOString()),
        provenance: fc.record(
          {
            source: freeText.filter((value) => value.length > 0 && value.length <= 32),
            detail: freeText,
          },
          { requiredKeys: ['source'] },
        ),
      },
      { requiredKeys: ['id', 'revision', 'workspaceId', 'createdAt', 'provenance'] },
    ),
    profiles: fc.uniqueArray(identifier, { maxLength: 5 }).chain((values) =>
      fc.tuple(
        ...values.map((value) =>
          fc.record(
            {
              selector: fc.constant({ kind: 'named' as const, value }),
              label: freeText,
              worker,
              grants: fc.subarray(decls.map((declaration) => declaration.name)),
            },
            { requiredKeys: ['selector', 'worker', 'grants'] },
          ),
        ),
      ),
    ),
    declarations: fc.constant(decls),
  }),
);

/** Rebuilds every object with its keys in a seed-dependent order. */
function shuffleKeys(value: unknown, random: () => number): unknown {
  if (Array.isArray(value)) return value.map((entry) => shuffleKeys(entry, random));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  for (let i = entries.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return Object.fromEntries(entries.map(([key, entry]) => [key, shuffleKeys(entry, random)]));
}

function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

describe('properties', () => {
  it('a bundle that validates re-validates after a canonical round trip', () => {
    fc.assert(
      fc.property(bundleArbitrary, (unsealed) => {
        const bundle = validateBundle(sealBundle(unsealed));
        const text = canonicalJson(bundle);
        const again = parseBundleJson(text);
        expect(again).toEqual(bundle);
        expect(canonicalJson(again)).toBe(text);
        expect(computeBundleDigest(again)).toBe(bundle.metadata.digest);
      }),
      { numRuns: 100 },
    );
  });

  it('the digest is stable under key shuffling and whitespace', () => {
    fc.assert(
      fc.property(bundleArbitrary, fc.integer(), fc.nat(4), (unsealed, seed, indent) => {
        const bundle = sealBundle(unsealed);
        const shuffled = shuffleKeys(bundle, seeded(seed)) as typeof bundle;
        expect(computeBundleDigest(shuffled)).toBe(bundle.metadata.digest);
        const reparsed = parseBundleJson(JSON.stringify(shuffled, null, indent));
        expect(reparsed.metadata.digest).toBe(bundle.metadata.digest);
      }),
      { numRuns: 100 },
    );
  });

  it('any change to a profile label changes the digest', () => {
    fc.assert(
      fc.property(bundleArbitrary, freeText, (unsealed, label) => {
        fc.pre(unsealed.profiles.length > 0 && unsealed.profiles[0]!.label !== label);
        const before = computeBundleDigest(unsealed);
        unsealed.profiles[0]!.label = label;
        expect(computeBundleDigest(unsealed)).not.toBe(before);
      }),
      { numRuns: 100 },
    );
  });
});
