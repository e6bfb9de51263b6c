// Property: no input makes evaluateTrust call a notebook runnable while it has a dependency
// that is neither allowlisted nor covered by a valid signature made with this key.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createMemoryTrustStore,
  evaluateTrust,
  signNotebookDependencies,
  TrustError,
  TrustKey,
  type TrustStore,
} from './index.js';

const key = TrustKey.fromBytes(Buffer.alloc(32, 9));

/** The decision on hostile input, or undefined when it was refused (only ever with a TrustError). */
function evaluateOrRefuse(
  notebook: unknown,
  store: TrustStore,
): ReturnType<typeof evaluateTrust> | undefined {
  try {
    return evaluateTrust({ notebook, store, key });
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return undefined;
  }
}
const otherKey = TrustKey.fromBytes(Buffer.alloc(32, 10));
const NAMES = ['alpha', 'beta', 'gamma', 'numpy', 'pandas', 'reqeusts'] as const;
type Eco = 'pypi' | 'conda';

interface Dep {
  eco: Eco;
  name: (typeof NAMES)[number];
  version: number;
  upper: boolean;
}

const depArb: fc.Arbitrary<Dep> = fc.record({
  eco: fc.constantFrom<Eco>('pypi', 'conda'),
  name: fc.constantFrom(...NAMES),
  version: fc.integer({ min: 0, max: 3 }),
  upper: fc.boolean(),
});

const spec = (dep: Dep) => {
  const name = dep.upper ? dep.name.toUpperCase() : dep.name;
  return dep.eco === 'pypi' ? `${name}==${dep.version}` : `${name}=${dep.version}`;
};

function notebookOf(deps: Dep[], runyard?: Record<string, unknown>) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    cells: [],
    metadata: {
      uv: { dependencies: deps.filter((d) => d.eco === 'pypi').map(spec) },
      conda: { dependencies: deps.filter((d) => d.eco === 'conda').map(spec) },
      ...(runyard ? { runyard } : {}),
    },
  };
}

/** The oracle's own notion of "the same dependencies": a multiset of lowercase names and versions. */
const identity = (deps: Dep[]) =>
  deps
    .map((d) => `${d.eco}:${d.name}:${d.version}`)
    .sort()
    .join('|');

describe('evaluateTrust property', () => {
  it('is runnable exactly when every dependency is allowlisted or covered by a valid signature', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            eco: fc.constantFrom<Eco>('pypi', 'conda'),
            name: fc.constantFrom(...NAMES),
          }),
          {
            selector: (p) => `${p.eco}:${p.name}`,
          },
        ),
        fc.array(depArb, { maxLength: 5 }),
        fc.constantFrom('none', 'this-key', 'other-key', 'garbage', 'copied'),
        fc.array(depArb, { maxLength: 5 }),
        fc.boolean(),
        (allowlist, signedDeps, signing, editedDeps, edit) => {
          const store = createMemoryTrustStore({ defaultTrustedPackages: [] });
          store.allow(
            allowlist.map((p) => ({ ecosystem: p.eco, name: p.name })),
            { source: 'user-approval' },
          );
          const finalDeps = edit
            ? editedDeps
            : [...signedDeps].reverse().map((d) => ({ ...d, upper: !d.upper }));
          let runyard: Record<string, unknown> | undefined;
          if (signing === 'this-key' || signing === 'other-key') {
            const signed = signNotebookDependencies(
              notebookOf(signedDeps),
              signing === 'this-key' ? key : otherKey,
            );
            runyard = signed.metadata.runyard as Record<string, unknown>;
          } else if (signing === 'garbage') {
            runyard = { trust_signature: `hmac-sha256:${'ab'.repeat(32)}` };
          } else if (signing === 'copied') {
            // A valid signature of some other notebook pasted in.
            const signed = signNotebookDependencies(
              notebookOf([{ eco: 'pypi', name: 'alpha', version: 9, upper: false }]),
              key,
            );
            runyard = signed.metadata.runyard as Record<string, unknown>;
          }
          const decision = evaluateTrust({ notebook: notebookOf(finalDeps, runyard), store, key });
          const allowed = new Set(allowlist.map((p) => `${p.eco}:${p.name}`));
          const coveredBySignature =
            signing === 'this-key' && identity(signedDeps) === identity(finalDeps);
          const everyDepCovered = finalDeps.every(
            (d) => coveredBySignature || allowed.has(`${d.eco}:${d.name}`),
          );
          expect(decision.dependencies).toHaveLength(finalDeps.length);
          expect(!decision.needsApproval).toBe(everyDepCovered);
          expect(decision.needsApproval).toBe(decision.untrusted.length > 0);
          if (!decision.needsApproval)
            expect(['trusted', 'no_dependencies']).toContain(decision.status);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never makes arbitrary metadata runnable without approval, and only fails with TrustError', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (uv, conda, runyard) => {
        const store = createMemoryTrustStore({ defaultTrustedPackages: [] });
        const notebook = { nbformat: 4, cells: [], metadata: { uv, conda, runyard } };
        const decision = evaluateOrRefuse(notebook, store);
        if (!decision) return;
        if (!decision.needsApproval) {
          expect(decision.status).toBe('no_dependencies');
          expect(decision.dependencies).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never drops an arbitrary dependency string on the way to a runnable decision', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 40 }),
            fc.constantFrom('numpy', 'Pandas>=2', 'evil', 'numpy; os_name == "nt"'),
          ),
          {
            maxLength: 8,
          },
        ),
        (strings) => {
          const store = createMemoryTrustStore();
          const notebook = { nbformat: 4, cells: [], metadata: { uv: { dependencies: strings } } };
          const decision = evaluateOrRefuse(notebook, store);
          if (!decision) return;
          expect(decision.dependencies).toHaveLength(strings.length);
          if (!decision.needsApproval) {
            const found = new Set(store.findTrusted(decision.dependencies).map((d) => d.name));
            for (const dep of decision.dependencies) expect(found.has(dep.name)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
