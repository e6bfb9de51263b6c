import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDependencySpec } from './canonical.js';
import { type Dependency, toDependency } from './dependencies.js';
import {
  canonicalDependency,
  computeCondaEnvHash,
  computeUvEnvHash,
  condaEnvHashPayload,
  uvEnvHashPayload,
} from './env-hash.js';
import { EnvDetectionError } from './errors.js';

const pypi = (...specs: string[]) => specs.map((spec) => toDependency(spec, 'pypi'));
const conda = (...specs: string[]) => specs.map((spec) => toDependency(spec, 'conda'));

describe('canonicalDependency', () => {
  it.each([
    ['NumPy>=1', 'numpy >= 1'],
    ['numpy>=1,<2', 'numpy <2, >=1'],
    ['Requests[Socks,Security]', 'requests[security, socks]'],
    ['zope.interface==5.0', 'Zope_Interface == 5.0'],
    ['torch==2.1.0+CPU', 'torch==2.1.0+cpu'],
    ["pkg; python_version<'3.10'", 'pkg ; python_version < "3.10"'],
  ])('%j and %j are the same dependency', (a, b) => {
    expect(canonicalDependency(pypi(a)[0] as Dependency)).toBe(
      canonicalDependency(pypi(b)[0] as Dependency),
    );
  });

  it('writes the documented canonical forms', () => {
    expect(
      canonicalDependency(pypi('Requests[Socks, security] <3, >=2.8 ; os_name=="nt"')[0]!),
    ).toBe('pypi:requests[security,socks]<3,>=2.8; os_name == "nt"');
    expect(canonicalDependency(pypi('pip @ https://example.com/pip.whl')[0]!)).toBe(
      'pypi:pip @ https://example.com/pip.whl',
    );
    expect(canonicalDependency(conda('conda-forge::NumPy >= 1.2  py_0')[0]!)).toBe(
      'conda:conda-forge::numpy >=1.2 py_0',
    );
    expect(canonicalDependency(conda('numpy=1.2')[0]!)).toBe('conda:numpy =1.2');
  });

  it('refuses a dependency whose spec is outside the grammar', () => {
    expect(() =>
      canonicalDependency({ ecosystem: 'pypi', name: 'numpy', spec: 'numpy; rm -rf /' }),
    ).toThrowError(expect.objectContaining({ code: 'invalid_dependency' }));
  });
});

describe('canonicalDependencySpec', () => {
  it('is the structured form canonicalDependency is written from', () => {
    expect(
      canonicalDependencySpec("Requests[Socks, security] <3, >=2.8 ;os_name=='nt'", 'pypi'),
    ).toEqual({
      ecosystem: 'pypi',
      name: 'requests',
      extras: ['security', 'socks'],
      specifier: ['<3', '>=2.8'],
      marker: 'os_name == "nt"',
    });
    expect(canonicalDependencySpec('conda-forge::NumPy >=  1.2   py_0', 'conda')).toEqual({
      ecosystem: 'conda',
      name: 'numpy',
      channel: 'conda-forge',
      constraint: '>=1.2 py_0',
    });
  });

  it('treats marker whitespace and quote style as insignificant, but not marker values', () => {
    const a = canonicalDependencySpec('x; python_version<"3.9"', 'pypi');
    const b = canonicalDependencySpec("x ;  python_version  <  '3.9'", 'pypi');
    expect(a).toEqual(b);
    expect(canonicalDependencySpec('x; python_version<"3.10"', 'pypi')).not.toEqual(a);
  });
});

describe('computeUvEnvHash', () => {
  it('is 16 lowercase hex characters of SHA-256 over the payload', () => {
    const input = { dependencies: pypi('numpy'), requiresPython: '>=3.10' };
    const payload = uvEnvHashPayload(input);
    expect(payload).toBe(
      '{"dependencies":["pypi:numpy"],"envId":null,"format":"runyard-uv-env/1","requiresPython":">=3.10"}',
    );
    expect(computeUvEnvHash(input)).toBe(
      createHash('sha256').update(payload).digest('hex').slice(0, 16),
    );
    expect(computeUvEnvHash(input)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('matches the README test vectors', () => {
    expect(
      computeUvEnvHash({ dependencies: pypi('numpy>=1.26', 'pandas'), requiresPython: '>=3.10' }),
    ).toBe(README_VECTORS.uvTwoDeps);
    expect(computeUvEnvHash({ dependencies: [], envId: 'nb-1234' })).toBe(README_VECTORS.uvEmpty);
    expect(
      computeCondaEnvHash({
        dependencies: conda('numpy=1.26', 'conda-forge::scipy'),
        channels: ['defaults', 'conda-forge'],
        python: '3.11',
      }),
    ).toBe(README_VECTORS.condaTwoDeps);
  });

  it('ignores order, name case, separators and whitespace', () => {
    const a = computeUvEnvHash({ dependencies: pypi('NumPy>=1', 'Pandas', 'scikit_learn') });
    const b = computeUvEnvHash({ dependencies: pypi('scikit-learn', 'pandas', 'numpy >= 1') });
    expect(a).toBe(b);
  });

  it('changes when a version spec or requires-python changes', () => {
    const base = computeUvEnvHash({ dependencies: pypi('numpy>=1') });
    expect(computeUvEnvHash({ dependencies: pypi('numpy>=2') })).not.toBe(base);
    expect(computeUvEnvHash({ dependencies: pypi('numpy') })).not.toBe(base);
    expect(computeUvEnvHash({ dependencies: pypi('numpy>=1'), requiresPython: '>=3.11' })).not.toBe(
      base,
    );
  });

  it('hashes envId only when there are no dependencies', () => {
    const deps = pypi('numpy');
    expect(computeUvEnvHash({ dependencies: deps, envId: 'a' })).toBe(
      computeUvEnvHash({ dependencies: deps, envId: 'b' }),
    );
    expect(computeUvEnvHash({ dependencies: [], envId: 'a' })).not.toBe(
      computeUvEnvHash({ dependencies: [], envId: 'b' }),
    );
  });

  it('cannot be forged through an envId containing JSON or newlines', () => {
    const forged = computeUvEnvHash({
      dependencies: [],
      envId: '","dependencies":["pypi:numpy"]\n',
    });
    expect(forged).not.toBe(computeUvEnvHash({ dependencies: pypi('numpy') }));
  });

  it('is invariant under permutation and name case (property)', () => {
    const names = fc.constantFrom('numpy', 'pandas', 'scipy', 'requests', 'typing_extensions');
    const ops = fc.constantFrom('', '>=1', '==2.0', '<3,>=1', '~=1.4');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(names, ops), { selector: ([n]) => n, maxLength: 5 }),
        fc.integer(),
        (entries, seed) => {
          const specs = entries.map(([n, op]) => `${n}${op}`);
          const shuffled = [...specs]
            .map((spec, i) => ({ spec, key: (i * 7919 + seed) % 101 }))
            .sort((x, y) => x.key - y.key)
            .map(({ spec }) => spec.toUpperCase().replace('_', '.'));
          expect(computeUvEnvHash({ dependencies: pypi(...shuffled) })).toBe(
            computeUvEnvHash({ dependencies: pypi(...specs) }),
          );
        },
      ),
    );
  });
});

describe('computeCondaEnvHash', () => {
  it('sorts channels and includes the python version', () => {
    const deps = conda('numpy');
    const a = computeCondaEnvHash({ dependencies: deps, channels: ['b', 'a'], python: '3.11' });
    expect(a).toBe(
      computeCondaEnvHash({ dependencies: deps, channels: ['a', 'b'], python: '3.11' }),
    );
    expect(a).not.toBe(
      computeCondaEnvHash({ dependencies: deps, channels: ['a', 'b'], python: '3.12' }),
    );
    expect(a).not.toBe(
      computeCondaEnvHash({ dependencies: deps, channels: ['a'], python: '3.11' }),
    );
    expect(condaEnvHashPayload({ dependencies: deps, channels: ['b', 'a'], python: '3.11' })).toBe(
      '{"channels":["a","b"],"dependencies":["conda:numpy"],"envId":null,"format":"runyard-conda-env/1","python":"3.11","requiresPython":null}',
    );
  });

  it('distinguishes a pypi and a conda dependency of the same name', () => {
    expect(computeCondaEnvHash({ dependencies: conda('numpy') })).not.toBe(
      computeCondaEnvHash({ dependencies: pypi('numpy') }),
    );
  });

  it('never differs from the uv hash by accident', () => {
    expect(computeCondaEnvHash({ dependencies: pypi('numpy') })).not.toBe(
      computeUvEnvHash({ dependencies: pypi('numpy') }),
    );
  });

  it('refuses hostile channels with a typed error', () => {
    expect(() =>
      computeCondaEnvHash({ dependencies: [], channels: ['conda-forge; rm -rf /'] }),
    ).toThrowError(EnvDetectionError);
  });
});

// Kept in sync with the "Test vectors" table of the package README.
const README_VECTORS = {
  uvTwoDeps: 'eee940ce3e5b9148',
  uvEmpty: '97d603e63757a46e',
  condaTwoDeps: '7a86d54653a2aa22',
};
