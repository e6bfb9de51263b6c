import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizePackageName,
  parseCondaSpec,
  parseRequirement,
  toDependency,
} from './dependencies.js';
import { EnvDetectionError } from './errors.js';

describe('normalizePackageName', () => {
  it.each([
    ['NumPy', 'numpy'],
    ['typing_extensions', 'typing-extensions'],
    ['zope.interface', 'zope-interface'],
    ['Foo__Bar-.baz', 'foo-bar-baz'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizePackageName(input)).toBe(expected);
  });
});

describe('parseRequirement', () => {
  it('parses name, extras, specifier and marker', () => {
    expect(
      parseRequirement('Requests[Security, socks] >= 2.8.1, ==2.8.* ; python_version < "3.8"'),
    ).toEqual({
      name: 'Requests',
      normalizedName: 'requests',
      extras: ['Security', 'socks'],
      specifier: '>=2.8.1,==2.8.*',
      marker: 'python_version < "3.8"',
      source: 'index',
    });
  });

  it('accepts a parenthesised specifier and local versions', () => {
    expect(parseRequirement('torch (==2.1.0+cpu)').specifier).toBe('==2.1.0+cpu');
  });

  it.each([
    ['pip @ https://example.com/pip-1.0.whl', 'url'],
    ['pkg @ git+https://example.com/repo.git@main', 'vcs'],
    ['pkg @ file:///tmp/pkg', 'path'],
  ])('classifies direct references: %s', (spec, source) => {
    expect(parseRequirement(spec).source).toBe(source);
  });

  it.each([
    'numpy; rm -rf /',
    'numpy\nrm -rf /',
    'numpy\u0000',
    'numpy >= 1; python_version < "3" or __import__',
    'numpy $(whoami)',
    'numpy && curl evil',
    '; numpy',
    '',
    '   ',
    '-numpy',
    'numpy @ javascript:alert(1)',
    'numpy[extra',
    'numpy >=',
    'x'.repeat(2000),
  ])('refuses %j with a typed error', (spec) => {
    expect(() => parseRequirement(spec)).toThrowError(EnvDetectionError);
    try {
      parseRequirement(spec);
    } catch (error) {
      expect((error as EnvDetectionError).code).toBe('invalid_dependency');
    }
  });

  it('never throws anything but a typed error, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (spec) => {
        try {
          const parsed = parseRequirement(spec);
          expect(parsed.normalizedName).toBe(normalizePackageName(parsed.name));
          expect(parsed.normalizedName).toMatch(/^[a-z0-9-]+$/);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvDetectionError);
        }
      }),
    );
  });
});

describe('parseCondaSpec', () => {
  it.each([
    ['numpy', { name: 'numpy', normalizedName: 'numpy', constraint: '' }],
    ['NumPy=1.2', { name: 'NumPy', normalizedName: 'numpy', constraint: '=1.2' }],
    ['numpy >=1.0 py_0', { name: 'numpy', normalizedName: 'numpy', constraint: '>=1.0 py_0' }],
    [
      'conda-forge::python-dateutil>=2',
      {
        channel: 'conda-forge',
        name: 'python-dateutil',
        normalizedName: 'python-dateutil',
        constraint: '>=2',
      },
    ],
    [
      "numpy[version='>=1.2']",
      { name: 'numpy', normalizedName: 'numpy', constraint: "[version='>=1.2']" },
    ],
  ])('parses %s', (spec, expected) => {
    expect(parseCondaSpec(spec)).toEqual(expected);
  });

  it('keeps - and _ distinct (conda treats them as different packages)', () => {
    expect(parseCondaSpec('typing_extensions').normalizedName).toBe('typing_extensions');
  });

  it.each(['numpy; rm -rf /', 'numpy\n', '::numpy', 'numpy `id`', 'evil channel::numpy'])(
    'refuses %j',
    (spec) => {
      expect(() => parseCondaSpec(spec)).toThrowError(
        expect.objectContaining({ code: 'invalid_dependency' }),
      );
    },
  );

  it('never throws anything but a typed error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (spec) => {
        try {
          parseCondaSpec(spec);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvDetectionError);
        }
      }),
    );
  });
});

describe('toDependency', () => {
  it('keeps the spec as written and normalises the name per ecosystem', () => {
    expect(toDependency(' Pandas>=2 ', 'pypi')).toEqual({
      ecosystem: 'pypi',
      name: 'pandas',
      spec: 'Pandas>=2',
    });
    expect(toDependency('conda-forge::Pandas', 'conda')).toEqual({
      ecosystem: 'conda',
      name: 'pandas',
      spec: 'conda-forge::Pandas',
    });
  });
});
