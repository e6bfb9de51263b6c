// Trust over every layout nteract writes: the signature and fingerprint cover the dependencies
// wherever they were read from, and nteract's own signature is reported as invalid here.
import { layoutFixture, uvLayouts } from '@runyard/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildNextAction,
  createMemoryTrustStore,
  evaluateTrust,
  readNotebookDependencies,
  signNotebookDependencies,
  TrustError,
  TrustKey,
  verifyNotebookDependencies,
} from './index.js';

const key = TrustKey.fromBytes(Buffer.alloc(32, 3));
const store = () => createMemoryTrustStore({ defaultTrustedPackages: [] });
/** The parts of the fixtures these tests change (each fixture has the ones its test uses). */
interface Section {
  dependencies: string[];
  pypi_dependencies: string[];
  channels: string[];
  python?: string;
}
interface Fixture {
  cells: { source: string[] }[];
  metadata: {
    uv: Section;
    runt: { uv: Section; pixi: Section; trust_signature?: unknown; trust_timestamp?: string };
    runyard?: { trust_signature?: string };
  };
}
const load = (name: Parameters<typeof layoutFixture>[0]) =>
  JSON.parse(layoutFixture(name)) as Fixture;
const asFixture = (value: unknown) => value as Fixture;
const evaluate = (notebook: unknown) => evaluateTrust({ notebook, store: store(), key });

describe('trust over nteract layouts', () => {
  it.each([
    ['runt-only', ['runtpkg']],
    ['legacy-only', ['legacypkg']],
    ['both', ['bothpkg']],
    ['pep723-first', ['pepfirst']],
    ['pep723-later', ['peplater']],
    ['runt-pixi', ['numpy', 'pixipkg']],
  ] as const)('%s: the dependencies in effect need approval', (name, expected) => {
    const decision = evaluate(load(name));
    expect(decision.status).toBe('untrusted');
    expect(decision.untrusted.map((d) => d.name)).toEqual(expected);
  });

  it('runt-pixi: conda and PyPI entries keep their ecosystems', () => {
    expect(
      evaluate(load('runt-pixi')).untrusted.map(({ ecosystem, name }) => `${ecosystem}:${name}`),
    ).toEqual(['conda:numpy', 'pypi:pixipkg']);
  });

  it('runt-deno: no Python dependencies', () => {
    expect(evaluate(load('runt-deno')).status).toBe('no_dependencies');
  });

  it.each([
    ['pep723-duplicate', /cell 1 \(id first\) and cell 3 \(id third\)/],
    ['pep723-malformed', /cell 2 \(id broken\) is not valid TOML at line 3/],
  ] as const)('%s: refused with a typed error, never read as no dependencies', (name, message) => {
    const run = () => evaluate(load(name));
    expect(run).toThrowError(TrustError);
    expect(run).toThrowError(message);
    expect(run).toThrowError(expect.objectContaining({ code: 'trust_metadata_invalid' }));
  });

  it('a signature covers runt dependencies: any change there breaks it', () => {
    const signed = asFixture(signNotebookDependencies(load('runt-only'), key));
    expect(verifyNotebookDependencies(signed, key)).toBe('valid');
    signed.metadata.runt.uv.dependencies.push('evil');
    expect(verifyNotebookDependencies(signed, key)).toBe('invalid');
    const decision = evaluate(signed);
    expect(decision.status).toBe('signature_invalid');
  });

  it('a signature covers a PEP 723 block in its cell; other lines of the cell do not matter', () => {
    const signed = asFixture(signNotebookDependencies(load('pep723-later'), key));
    const before = readNotebookDependencies(signed).fingerprint;
    const cell = signed.cells[2] as { source: string[] };
    cell.source = [...cell.source.slice(0, -1), 'print("another line")'];
    expect(verifyNotebookDependencies(signed, key)).toBe('valid');
    cell.source[4] = '#   "peplater>=2",\n';
    expect(verifyNotebookDependencies(signed, key)).toBe('invalid');
    expect(readNotebookDependencies(signed).fingerprint).not.toBe(before);
  });

  it('requires-python of a PEP 723 block is covered too', () => {
    const notebook = load('pep723-first');
    const before = readNotebookDependencies(notebook).fingerprint;
    (notebook.cells[0] as { source: string[] }).source[1] = '# requires-python = ">=3.12"\n';
    expect(readNotebookDependencies(notebook).fingerprint).not.toBe(before);
  });

  it('runt.pixi: channels, conda and PyPI lists are all covered', () => {
    const base = readNotebookDependencies(load('runt-pixi')).fingerprint;
    const variants: ((pixi: Section) => void)[] = [
      (p) => p.channels.push('bioconda'),
      (p) => p.dependencies.push('scipy'),
      (p) => p.pypi_dependencies.push('requests'),
      (p) => {
        p.python = '3.12';
      },
    ];
    for (const change of variants) {
      const notebook = load('runt-pixi');
      change(notebook.metadata.runt.pixi);
      expect(readNotebookDependencies(notebook).fingerprint).not.toBe(base);
    }
  });

  it('both: the ignored top-level section installs nothing and is not signed; runt is', () => {
    const notebook = load('both');
    const before = readNotebookDependencies(notebook).fingerprint;
    notebook.metadata.uv.dependencies = ['whatever'];
    expect(readNotebookDependencies(notebook).fingerprint).toBe(before);
    notebook.metadata.runt.uv.dependencies = ['whatever'];
    expect(readNotebookDependencies(notebook).fingerprint).not.toBe(before);
  });

  it("nteract's own signature is present but not valid here: signature_invalid, not unsigned", () => {
    const notebook = load('runt-only');
    notebook.metadata.runt.trust_signature = `hmac-sha256:${'ab'.repeat(32)}`;
    notebook.metadata.runt.trust_timestamp = '2026-01-01T00:00:00Z';
    const decision = evaluate(notebook);
    expect(decision).toMatchObject({ signature: 'invalid', status: 'signature_invalid' });
    expect(buildNextAction(decision, { notebookId: 'n' })?.message).toContain(
      'signed elsewhere or modified',
    );
    // Without it, the same notebook is simply unsigned.
    delete notebook.metadata.runt.trust_signature;
    expect(evaluate(notebook)).toMatchObject({ signature: 'missing', status: 'untrusted' });
  });

  it("a foreign signature of any shape is invalid, and this machine's own wins when both exist", () => {
    for (const value of [5, '', 'hmac-sha256:zz', ['x']]) {
      const notebook = load('runt-only');
      notebook.metadata.runt.trust_signature = value;
      expect(evaluate(notebook).status).toBe('signature_invalid');
    }
    const signed = asFixture(signNotebookDependencies(load('runt-only'), key));
    signed.metadata.runt.trust_signature = `hmac-sha256:${'00'.repeat(32)}`;
    expect(evaluate(signed)).toMatchObject({ signature: 'valid', status: 'trusted' });
  });

  it('legacy signatures stay valid: the payload of a top-level-only notebook is unchanged', () => {
    const notebook = load('legacy-only');
    expect(readNotebookDependencies(notebook).payload).toBe(
      '{"scope":"runyard.notebook-dependencies.v1","uv":{"dependencies":[{"extras":[],"name":"legacypkg","specifier":[]}],"requires-python":">=3.9"}}',
    );
  });
});

describe('property: the layout never changes the fingerprint or the signature', () => {
  const specArb = fc
    .array(
      fc.record({
        name: fc.constantFrom('numpy', 'NumPy', 'scikit_learn', 'requests', 'httpx'),
        version: fc.constantFrom('', '>=1', ' >= 2.0', '==1.2.3', '<3,>=2'),
      }),
      { minLength: 1, maxLength: 6 },
    )
    .map((entries) => entries.map(({ name, version }) => `${name}${version}`));

  it('same dependencies in any layout: same fingerprint, and a signature made in one verifies in all', () => {
    fc.assert(
      fc.property(
        specArb,
        fc.option(fc.constantFrom('>=3.9', '>=3.10,<4'), { nil: undefined }),
        fc.nat(10),
        fc.constantFrom('runt', 'legacy', 'both', 'pep723First', 'pep723Later'),
        (specs, requiresPython, seed, signIn) => {
          const layouts = uvLayouts(specs, requiresPython, seed);
          const fingerprints = new Set(
            Object.values(layouts).map((nb) => readNotebookDependencies(nb).fingerprint),
          );
          expect(fingerprints.size).toBe(1);
          const signature = signNotebookDependencies(layouts[signIn], key).metadata.runyard
            ?.trust_signature;
          for (const notebook of Object.values(layouts)) {
            const copy = asFixture(structuredClone(notebook));
            copy.metadata.runyard = { trust_signature: signature };
            expect(verifyNotebookDependencies(copy, key)).toBe('valid');
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
