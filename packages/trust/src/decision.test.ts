import { describe, expect, it } from 'vitest';
import {
  approve,
  buildNextAction,
  createMemoryTrustStore,
  createTrustService,
  editDistance,
  evaluateTrust,
  findTyposquat,
  seedFromCreate,
  signNotebookDependencies,
  TrustError,
  TrustErrorCode,
  TrustKey,
  trustErrorStatus,
} from './index.js';
import { makeNotebook } from './test-support/notebooks.js';

const key = TrustKey.fromBytes(Buffer.alloc(32, 3));

function expectTrustError(fn: () => unknown, code: string): TrustError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    expect((error as TrustError).code).toBe(code);
    return error as TrustError;
  }
  throw new Error(`expected ${code}`);
}

describe('evaluateTrust', () => {
  it('is no_dependencies and runnable for a notebook without dependency lists', () => {
    const store = createMemoryTrustStore();
    for (const notebook of [
      makeNotebook(),
      makeNotebook({ uv: [] }),
      makeNotebook({ uv: [], conda: [] }),
    ]) {
      const decision = evaluateTrust({ notebook, store, key });
      expect(decision.status).toBe('no_dependencies');
      expect(decision.needsApproval).toBe(false);
      expect(buildNextAction(decision, { notebookId: 'n' })).toBeNull();
    }
  });

  it('trusts a notebook whose dependencies are all on the default allowlist', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({ uv: ['NumPy>=1.26', 'pandas'], conda: ['scipy', 'ipykernel'] }),
      store,
      key,
    });
    expect(decision).toMatchObject({
      status: 'trusted',
      needsApproval: false,
      untrusted: [],
      signature: 'missing',
    });
    expect(decision.dependencies[0]).toMatchObject({
      ecosystem: 'pypi',
      name: 'numpy',
      spec: 'NumPy>=1.26',
      approved: true,
    });
  });

  it('lists exactly the unapproved dependencies and how to approve them', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({ uv: ['numpy', 'canhazpassword==1.0'] }),
      store,
      key,
    });
    expect(decision.status).toBe('untrusted');
    expect(decision.needsApproval).toBe(true);
    expect(decision.untrusted.map((d) => d.name)).toEqual(['canhazpassword']);
    // An unknown name nowhere near a known one is simply untrusted, not a typosquat.
    expect(decision.warnings).toEqual([]);
  });

  it('trusts every dependency covered by a valid signature, and only with this key', () => {
    const store = createMemoryTrustStore();
    const signed = signNotebookDependencies(makeNotebook({ uv: ['canhazpassword', 'numpy'] }), key);
    const decision = evaluateTrust({ notebook: signed, store, key });
    expect(decision).toMatchObject({ status: 'trusted', needsApproval: false, signature: 'valid' });
    expect(decision.dependencies.find((d) => d.name === 'canhazpassword')).toMatchObject({
      approved: true,
      allowlisted: false,
    });
    const elsewhere = evaluateTrust({ notebook: signed, store, key: TrustKey.generate() });
    expect(elsewhere).toMatchObject({ status: 'signature_invalid', needsApproval: true });
    expect(elsewhere.untrusted.map((d) => d.name)).toEqual(['canhazpassword']);
  });

  it('does not trust a signed notebook whose dependencies changed after signing', () => {
    const store = createMemoryTrustStore();
    const signed = signNotebookDependencies(makeNotebook({ uv: ['canhazpassword==1.0'] }), key);
    const metadata = signed.metadata as Record<string, unknown>;
    const changed = {
      ...signed,
      metadata: { ...metadata, uv: { dependencies: ['canhazpassword==1.1'] } },
    };
    expect(evaluateTrust({ notebook: changed, store, key })).toMatchObject({
      status: 'signature_invalid',
      needsApproval: true,
    });
  });

  it('flags likely typosquats of allowlisted and well-known names', () => {
    const store = createMemoryTrustStore();
    store.allow([{ ecosystem: 'pypi', name: 'mycompany-utils' }], { source: 'user-approval' });
    const decision = evaluateTrust({
      notebook: makeNotebook({
        uv: ['reqeusts', 'numpyy', 'mycompany-utlis', 'requests', 'numba', 'canhazpassword'],
      }),
      store,
      key,
    });
    const squats = decision.warnings.filter((w) => w.kind === 'possible_typosquat');
    expect(
      squats.map((w) => [
        w.kind === 'possible_typosquat' && w.name,
        w.kind === 'possible_typosquat' && w.similarTo,
      ]),
    ).toEqual([
      ['reqeusts', 'requests'],
      ['numpyy', 'numpy'],
      ['mycompany-utlis', 'mycompany-utils'],
    ]);
  });

  it('does not flag a name the user approved, even if it resembles another', () => {
    const store = createMemoryTrustStore();
    store.allow([{ ecosystem: 'pypi', name: 'numpyy' }], { source: 'user-approval' });
    const decision = evaluateTrust({ notebook: makeNotebook({ uv: ['numpyy'] }), store, key });
    expect(decision.warnings).toEqual([]);
    expect(decision.status).toBe('trusted');
  });

  it('flags direct URL, VCS and local-path dependencies even when allowlisted', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({
        uv: [
          'numpy @ https://example.com/numpy.whl',
          'tool @ git+https://example.com/tool.git',
          'local @ file:///tmp/local',
        ],
        conda: ['https://example.com/channel::scipy', 'file:///srv/channel::pandas'],
      }),
      store,
      key,
    });
    const refs = decision.warnings.flatMap((w) =>
      w.kind === 'direct_reference' ? [`${w.ecosystem}:${w.name}:${w.origin}`] : [],
    );
    expect(refs).toEqual([
      'pypi:numpy:url',
      'pypi:tool:vcs',
      'pypi:local:path',
      'conda:scipy:url',
      'conda:pandas:path',
    ]);
  });

  it('flags a package listed in both ecosystems under different names', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({
        uv: ['torch', 'scikit-learn', 'numpy'],
        conda: ['pytorch', 'scikit_learn', 'numpy'],
      }),
      store,
      key,
    });
    const pairs = decision.warnings.flatMap((w) =>
      w.kind === 'ecosystem_name_mismatch' ? [`${w.pypi}/${w.conda}`] : [],
    );
    expect(pairs).toEqual(['scikit-learn/scikit_learn', 'torch/pytorch']);
  });

  it('gives a fingerprint that ignores order and name case but follows any change', () => {
    const store = createMemoryTrustStore();
    const fp = (uv: string[]) =>
      evaluateTrust({ notebook: makeNotebook({ uv }), store, key }).fingerprint;
    expect(fp(['a', 'B==1'])).toBe(fp(['b==1', 'A']));
    expect(fp(['a', 'b==1'])).not.toBe(fp(['a', 'b==2']));
  });
});

describe('bad input', () => {
  const store = createMemoryTrustStore();
  const cases: [string, unknown][] = [
    ['dependencies not a list', makeNotebook({ uv: 'numpy' })],
    ['dependencies an object', makeNotebook({ conda: { numpy: '*' } })],
    ['non-string entries', makeNotebook({ uv: ['numpy', 42] })],
    ['null entries', makeNotebook({ conda: [null] })],
    ['100k entries', makeNotebook({ uv: Array.from({ length: 100_000 }, (_, i) => `pkg${i}`) })],
    ['a huge string', makeNotebook({ uv: [`numpy${'='.repeat(2)}${'1'.repeat(2_000_000)}`] })],
    ['a huge name', makeNotebook({ uv: ['a'.repeat(10_000)] })],
    ['control characters', makeNotebook({ uv: ['numpy\n--index-url https://evil'] })],
    ['shell in a marker', makeNotebook({ uv: ['numpy; rm -rf /'] })],
    ['metadata not an object', { nbformat: 4, cells: [], metadata: 'x' }],
    ['uv not an object', { nbformat: 4, cells: [], metadata: { uv: ['numpy'] } }],
    ['not an object at all', 42],
    ['null', null],
    ['invalid JSON text', '{"metadata": '],
  ];
  for (const [name, notebook] of cases) {
    it(`refuses ${name} with a typed error`, () => {
      const error = expectTrustError(
        () => evaluateTrust({ notebook, store, key }),
        'trust_metadata_invalid',
      );
      expect(error.message.length).toBeLessThan(2_000);
    });
  }

  it('refuses notebook text over the size limit before parsing it', () => {
    const huge = `{"metadata":{},"cells":[],"pad":"${'x'.repeat(64 * 1024 * 1024)}"}`;
    expectTrustError(
      () => evaluateTrust({ notebook: huge, store, key }),
      'trust_metadata_too_large',
    );
  });

  it('refuses a wrong-length key', () => {
    expectTrustError(
      () => evaluateTrust({ notebook: makeNotebook({ uv: ['x'] }), store, key: new Uint8Array(8) }),
      'trust_key_invalid',
    );
  });

  it('refuses hostile package references given to the store', () => {
    for (const name of ['', '../etc/passwd', 'a b', 'x'.repeat(300), 'pkg;drop table']) {
      expectTrustError(
        () => store.allow([{ ecosystem: 'pypi', name }], { source: 'user-approval' }),
        'trust_input_invalid',
      );
    }
    expectTrustError(
      () =>
        store.allow([{ ecosystem: 'npm' as 'pypi', name: 'left-pad' }], {
          source: 'user-approval',
        }),
      'trust_input_invalid',
    );
    expectTrustError(
      () => store.allow([{ ecosystem: 'pypi', name: 'x' }], { source: 'root' as 'user-approval' }),
      'trust_input_invalid',
    );
  });
});

describe('approve', () => {
  it('approves every dependency, re-signs, and records the actor', () => {
    const store = createMemoryTrustStore({ defaultTrustedPackages: [] });
    const notebook = makeNotebook({ uv: ['canhazpassword', 'requests'], conda: ['pandas'] });
    const seen = evaluateTrust({ notebook, store, key });
    expect(seen.needsApproval).toBe(true);
    const result = approve(
      { notebook, fingerprint: seen.fingerprint, actor: 'mcp:agent', notebookPath: 'a.ipynb' },
      { store, key },
    );
    expect(result.decision).toMatchObject({
      status: 'trusted',
      signature: 'valid',
      needsApproval: false,
    });
    expect(result.changes.map((c) => c.effect)).toEqual(['added', 'added', 'added']);
    expect(store.listTrusted().every((p) => p.source === 'user-approval')).toBe(true);
    expect(store.auditLog().map((a) => [a.action, a.name, a.actor, a.notebookPath])).toEqual([
      ['approve', 'canhazpassword', 'mcp:agent', 'a.ipynb'],
      ['approve', 'requests', 'mcp:agent', 'a.ipynb'],
      ['approve', 'pandas', 'mcp:agent', 'a.ipynb'],
    ]);
  });

  it('refuses a stale or forged fingerprint and approves nothing', () => {
    const store = createMemoryTrustStore({ defaultTrustedPackages: [] });
    const shown = makeNotebook({ uv: ['requests'] });
    const { fingerprint } = evaluateTrust({ notebook: shown, store, key });
    const changed = makeNotebook({ uv: ['requests', 'canhazpassword'] });
    for (const fp of [fingerprint, '', 'sha256:00', 42 as unknown as string]) {
      expectTrustError(
        () => approve({ notebook: changed, fingerprint: fp, actor: 'u' }, { store, key }),
        'trust_fingerprint_mismatch',
      );
    }
    expect(store.listTrusted()).toEqual([]);
    expect(store.auditLog()).toEqual([]);
  });

  it('refuses an unusable actor', () => {
    const store = createMemoryTrustStore();
    const notebook = makeNotebook({ uv: ['x'] });
    const { fingerprint } = evaluateTrust({ notebook, store, key });
    expectTrustError(
      () => approve({ notebook, fingerprint, actor: 'a\nb' }, { store, key }),
      'trust_input_invalid',
    );
  });
});

describe('seedFromCreate and revoke', () => {
  it('seeds only for a freshly created notebook and re-derives names from specs', () => {
    const store = createMemoryTrustStore({ defaultTrustedPackages: [] });
    const deps = [{ ecosystem: 'pypi' as const, name: 'numpy', spec: 'Evil_Pkg>=1' }];
    expect(seedFromCreate(deps, { freshlyCreated: false }, store)).toEqual([]);
    expect(store.listTrusted()).toEqual([]);
    const changes = seedFromCreate(deps, { freshlyCreated: true, actor: 'u' }, store);
    expect(changes).toEqual([{ ecosystem: 'pypi', name: 'evil-pkg', effect: 'added' }]);
    expect(store.listTrusted()[0]).toMatchObject({ name: 'evil-pkg', source: 'create-notebook' });
  });

  it('revokes and records the revocation', () => {
    const store = createMemoryTrustStore({ defaultTrustedPackages: ['numpy'] });
    const service = createTrustService({ store, key });
    expect(service.revoke([{ ecosystem: 'pypi', name: 'NumPy' }], { actor: 'admin' })).toEqual([
      { ecosystem: 'pypi', name: 'numpy', effect: 'removed' },
    ]);
    expect(service.evaluate(makeNotebook({ uv: ['numpy'] })).needsApproval).toBe(true);
    expect(store.auditLog().at(-1)).toMatchObject({
      action: 'revoke',
      effect: 'removed',
      actor: 'admin',
      name: 'numpy',
    });
  });
});

describe('buildNextAction', () => {
  it('has exactly the documented shape and percent-encodes the id', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({ uv: ['canhazpassword>=1'] }),
      store,
      key,
    });
    const action = buildNextAction(decision, { notebookId: "dir/a b?#%.ipynb'" });
    expect(action).toEqual({
      kind: 'approve_dependencies',
      message: expect.stringContaining('canhazpassword'),
      untrusted: [{ ecosystem: 'pypi', name: 'canhazpassword', spec: 'canhazpassword>=1' }],
      mcp: {
        tool: 'manage_dependencies',
        arguments: {
          notebook_id: "dir/a b?#%.ipynb'",
          trust: true,
          fingerprint: decision.fingerprint,
        },
      },
      http: {
        method: 'POST',
        path: '/api/notebooks/dir%2Fa%20b%3F%23%25.ipynb%27/dependencies',
        body: { trust: true, fingerprint: decision.fingerprint },
      },
    });
  });

  it('refuses ids that would change the path', () => {
    const store = createMemoryTrustStore();
    const decision = evaluateTrust({
      notebook: makeNotebook({ uv: ['canhazpassword'] }),
      store,
      key,
    });
    for (const id of ['', '.', '..']) {
      expectTrustError(() => buildNextAction(decision, { notebookId: id }), 'trust_input_invalid');
    }
  });
});

describe('helpers', () => {
  it('measures edit distance with transpositions as one edit', () => {
    expect(editDistance('requests', 'reqeusts')).toBe(1);
    expect(editDistance('numpy', 'numpyy')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('kitten', 'sitting', 1)).toBe(2);
    expect(findTyposquat('six', ['pip'])).toBeUndefined();
    expect(findTyposquat('pandsa', ['pandas'])).toBe('pandas');
  });

  it('has a suggested HTTP status for every error code', () => {
    for (const code of Object.values(TrustErrorCode)) {
      expect(trustErrorStatus[code]).toBeGreaterThanOrEqual(400);
    }
    expect(trustErrorStatus.trust_fingerprint_mismatch).toBe(409);
  });
});

describe('project-file dependencies', () => {
  const pixi = [
    { ecosystem: 'conda' as const, name: 'r-base', spec: 'r-base>=4' },
    { ecosystem: 'pypi' as const, name: 'ignored', spec: 'canhazpassword' },
  ];

  it('are never covered by the notebook signature, only by the allowlist', () => {
    const store = createMemoryTrustStore();
    const signed = signNotebookDependencies(makeNotebook({ uv: ['somepkg'] }), key);
    const decision = evaluateTrust({ notebook: signed, store, key, projectDependencies: pixi });
    expect(decision.needsApproval).toBe(true);
    expect(decision.untrusted.map((d) => `${d.ecosystem}:${d.name}`)).toEqual([
      'conda:r-base',
      'pypi:canhazpassword',
    ]);
    expect(decision.dependencies[0]).toMatchObject({ name: 'somepkg', approved: true });
    expect(decision.fingerprint).not.toBe(
      evaluateTrust({ notebook: signed, store, key }).fingerprint,
    );
  });

  it('are approved together with the notebook, against a fingerprint that includes them', () => {
    const store = createMemoryTrustStore();
    const service = createTrustService({ store, key });
    const notebook = makeNotebook({ uv: ['numpy'] });
    const { fingerprint } = service.evaluate(notebook, { projectDependencies: pixi });
    expectTrustError(
      () => service.approve({ notebook, fingerprint, actor: 'u' }),
      'trust_fingerprint_mismatch',
    );
    const result = service.approve({
      notebook,
      fingerprint,
      actor: 'u',
      projectDependencies: pixi,
    });
    expect(result.decision.needsApproval).toBe(false);
    expect(store.findTrusted([{ ecosystem: 'pypi', name: 'canhazpassword' }])).toHaveLength(1);
  });

  it('refuses malformed project dependencies', () => {
    const store = createMemoryTrustStore();
    for (const bad of [
      [{ ecosystem: 'npm', name: 'x', spec: 'x' }],
      [{ ecosystem: 'pypi', spec: 42 }],
      'x',
    ]) {
      expect(() =>
        evaluateTrust({ notebook: makeNotebook(), store, key, projectDependencies: bad as never }),
      ).toThrowError(TrustError);
    }
    expectTrustError(
      () =>
        evaluateTrust({
          notebook: makeNotebook(),
          store,
          key,
          projectDependencies: [{ ecosystem: 'pypi', name: 'x', spec: 'x; rm -rf /' }],
        }),
      'trust_metadata_invalid',
    );
  });
});
