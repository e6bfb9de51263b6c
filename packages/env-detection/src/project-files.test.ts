import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvDetectionError } from './errors.js';
import {
  MAX_PROJECT_FILE_BYTES,
  parseEnvironmentYml,
  parsePixiToml,
  parseProjectFile,
  parsePyproject,
} from './project-files.js';

function errorOf(fn: () => unknown): EnvDetectionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EnvDetectionError);
    return error as EnvDetectionError;
  }
  throw new Error('expected a typed error');
}

describe('parsePyproject', () => {
  it('reads [project].dependencies and requires-python', () => {
    const env = parsePyproject(
      [
        '[project]',
        'name = "demo"',
        'requires-python = ">=3.10"',
        'dependencies = ["NumPy>=1.26", "requests[socks]", \'tomli; python_version < "3.11"\']',
        '[tool.black]',
        'line-length = 100',
      ].join('\n'),
    );
    expect(env).toEqual({
      source: 'uv:pyproject',
      dependencies: [
        { ecosystem: 'pypi', name: 'numpy', spec: 'NumPy>=1.26' },
        { ecosystem: 'pypi', name: 'requests', spec: 'requests[socks]' },
        { ecosystem: 'pypi', name: 'tomli', spec: 'tomli; python_version < "3.11"' },
      ],
      channels: [],
      requiresPython: '>=3.10',
      envName: null,
      warnings: [],
    });
  });

  it('accepts a pyproject without a [project] table', () => {
    expect(parsePyproject('[tool.ruff]\nline-length = 88\n')).toMatchObject({
      source: 'uv:pyproject',
      dependencies: [],
      requiresPython: null,
    });
  });

  it('treats a pyproject with [tool.pixi] as a pixi manifest', () => {
    const env = parsePyproject(
      [
        '[project]',
        'dependencies = ["requests"]',
        'requires-python = ">=3.11"',
        '[tool.pixi.workspace]',
        'channels = ["conda-forge"]',
        'platforms = ["linux-64"]',
        '[tool.pixi.dependencies]',
        'numpy = ">=1.26"',
        '[tool.pixi.pypi-dependencies]',
        'rich = "*"',
      ].join('\n'),
    );
    expect(env).toMatchObject({
      source: 'pixi:toml',
      channels: ['conda-forge'],
      requiresPython: '>=3.11',
      dependencies: [
        { ecosystem: 'conda', name: 'numpy', spec: 'numpy >=1.26' },
        { ecosystem: 'pypi', name: 'requests', spec: 'requests' },
        { ecosystem: 'pypi', name: 'rich', spec: 'rich' },
      ],
    });
  });

  it.each([
    ['unterminated string', 'a = "b\n', 1],
    ['bad table header', '[project]\nname = "x"\n[[broken\n', 3],
    ['duplicate key', '[project]\nname = "a"\nname = "b"\n', 3],
  ])('reports %s as project_file_invalid with the line', (_label, text, line) => {
    const error = errorOf(() => parsePyproject(text, '../pyproject.toml'));
    expect(error.code).toBe('project_file_invalid');
    expect(error.details).toMatchObject({ path: '../pyproject.toml', line });
    expect(error.message).toMatch(new RegExp(`^\\.\\./pyproject\\.toml at line ${line}: `));
    expect(error.message).not.toContain('\n');
  });

  it('reports wrong types without a line', () => {
    const error = errorOf(() => parsePyproject('[project]\ndependencies = "numpy"\n'));
    expect(error.code).toBe('project_file_invalid');
    expect(error.message).toContain('project.dependencies');
  });

  it.each(['numpy; rm -rf /', 'numpy\nrm -rf /', 'numpy\u0000', 'numpy $(curl evil)'])(
    'refuses the injection attempt %j with invalid_dependency naming the file',
    (spec) => {
      const text = `[project]\ndependencies = [${JSON.stringify(spec)}]\n`;
      const error = errorOf(() => parsePyproject(text, 'sub/pyproject.toml'));
      expect(error.code).toBe('invalid_dependency');
      expect(error.details.path).toBe('sub/pyproject.toml');
    },
  );

  it('refuses deeply nested inline tables and arrays', () => {
    const deep = `a = ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    expect(errorOf(() => parsePyproject(deep)).code).toBe('project_file_invalid');
    const deepTable = `a = ${'{b = '.repeat(500)}1${' }'.repeat(500)}\n`;
    expect(errorOf(() => parsePyproject(deepTable)).code).toBe('project_file_invalid');
  });

  it('survives deeply dotted table headers', () => {
    const header = Array.from({ length: 10_000 }, () => 'a').join('.');
    expect(parsePyproject(`[${header}]\nx = 1\n`).dependencies).toEqual([]);
  });

  it('refuses files over the size limit', () => {
    const text = `# ${'x'.repeat(MAX_PROJECT_FILE_BYTES)}\n`;
    expect(errorOf(() => parsePyproject(text)).code).toBe('project_file_invalid');
  });

  it('drops __proto__ keys instead of touching prototypes', () => {
    const env = parsePyproject('[project.__proto__]\npolluted = true\n[project]\nname = "x"\n');
    expect(env.dependencies).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parsePixiToml', () => {
  it('reads conda and pypi dependencies, table values becoming specs', () => {
    const env = parsePixiToml(
      [
        '[project]',
        'name = "demo"',
        'channels = ["conda-forge", { channel = "pytorch", priority = 1 }]',
        'platforms = ["linux-64"]',
        '[dependencies]',
        'python = "3.11.*"',
        'numpy = "*"',
        'scipy = { version = ">=1.11", channel = "conda-forge" }',
        'pytorch = { version = "2.1.*", build = "*cuda*" }',
        'openssl = { build = "h1234" }',
        '[pypi-dependencies]',
        'Requests = ">=2.31"',
        'rich = { version = "==13.0", extras = ["jupyter"] }',
        'mylib = { git = "https://github.com/o/mylib.git", rev = "abc123" }',
        'wheel-pkg = { url = "https://example.com/pkg-1.0-py3-none-any.whl" }',
        'local = { path = ".", editable = true }',
      ].join('\n'),
    );
    expect(env.source).toBe('pixi:toml');
    expect(env.channels).toEqual(['conda-forge', 'pytorch']);
    expect(env.dependencies).toEqual([
      { ecosystem: 'conda', name: 'python', spec: 'python 3.11.*' },
      { ecosystem: 'conda', name: 'numpy', spec: 'numpy' },
      { ecosystem: 'conda', name: 'scipy', spec: 'conda-forge::scipy >=1.11' },
      { ecosystem: 'conda', name: 'pytorch', spec: 'pytorch 2.1.* *cuda*' },
      { ecosystem: 'conda', name: 'openssl', spec: 'openssl * h1234' },
      { ecosystem: 'pypi', name: 'requests', spec: 'Requests >=2.31' },
      { ecosystem: 'pypi', name: 'rich', spec: 'rich[jupyter] ==13.0' },
      {
        ecosystem: 'pypi',
        name: 'mylib',
        spec: 'mylib @ git+https://github.com/o/mylib.git@abc123',
      },
      {
        ecosystem: 'pypi',
        name: 'wheel-pkg',
        spec: 'wheel-pkg @ https://example.com/pkg-1.0-py3-none-any.whl',
      },
    ]);
    expect(env.warnings).toEqual([
      expect.objectContaining({
        code: 'dependency_skipped',
        message: expect.stringContaining('"local"'),
      }),
    ]);
  });

  it('prefers [workspace] channels over [project] channels', () => {
    const env = parsePixiToml(
      '[workspace]\nchannels = ["conda-forge"]\n[project]\nchannels = ["x"]\n',
    );
    expect(env.channels).toEqual(['conda-forge']);
  });

  it('skips conda source dependencies with a warning', () => {
    const env = parsePixiToml('[dependencies]\nmypkg = { path = "./mypkg" }\n');
    expect(env.dependencies).toEqual([]);
    expect(env.warnings[0]?.code).toBe('dependency_skipped');
  });

  it.each([
    ['a hostile channel', '[project]\nchannels = ["conda-forge; rm -rf /"]\n'],
    ['a hostile version', '[dependencies]\nnumpy = ">=1; rm -rf /"\n'],
    ['a bare pypi version', '[pypi-dependencies]\nnumpy = "1.0"\n'],
    ['a newline in a name', '[dependencies]\n"numpy\\nevil" = "*"\n'],
  ])('refuses %s with invalid_dependency', (_label, text) => {
    expect(errorOf(() => parsePixiToml(text)).code).toBe('invalid_dependency');
  });

  it('refuses a malformed manifest with the line', () => {
    const error = errorOf(() => parsePixiToml('[dependencies]\nnumpy = \n', 'pixi.toml'));
    expect(error).toMatchObject({ code: 'project_file_invalid', details: { line: 2 } });
  });

  it('keeps hostile keys printable in wrong-type messages', () => {
    const error = errorOf(() => parsePixiToml('[dependencies]\n"evil\\u001b[2J\\nkey" = 5\n'));
    expect(error.code).toBe('project_file_invalid');
    expect(error.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('refuses wrong value types', () => {
    expect(errorOf(() => parsePixiToml('[dependencies]\nnumpy = 5\n')).code).toBe(
      'project_file_invalid',
    );
  });
});

describe('parseEnvironmentYml', () => {
  it('reads name, channels and dependencies with the nested pip list', () => {
    const env = parseEnvironmentYml(
      [
        'name: analysis',
        'channels:',
        '  - conda-forge',
        '  - defaults',
        'dependencies:',
        '  - python=3.11',
        '  - NumPy>=1.26',
        '  - conda-forge::scipy',
        '  - pip',
        '  - pip:',
        '      - Requests>=2',
        '      - -r requirements.txt',
        '      - --extra-index-url https://example.com/simple',
      ].join('\n'),
    );
    expect(env).toEqual({
      source: 'conda:env_yml',
      envName: 'analysis',
      channels: ['conda-forge', 'defaults'],
      requiresPython: null,
      dependencies: [
        { ecosystem: 'conda', name: 'python', spec: 'python=3.11' },
        { ecosystem: 'conda', name: 'numpy', spec: 'NumPy>=1.26' },
        { ecosystem: 'conda', name: 'scipy', spec: 'conda-forge::scipy' },
        { ecosystem: 'conda', name: 'pip', spec: 'pip' },
        { ecosystem: 'pypi', name: 'requests', spec: 'Requests>=2' },
      ],
      warnings: [
        expect.objectContaining({
          code: 'dependency_skipped',
          message: expect.stringContaining('"-r"'),
        }),
        expect.objectContaining({
          code: 'dependency_skipped',
          message: expect.stringContaining('"--extra-index-url"'),
        }),
      ],
    });
  });

  it('accepts empty sections', () => {
    expect(parseEnvironmentYml('name: x\nchannels:\ndependencies:\n')).toMatchObject({
      envName: 'x',
      channels: [],
      dependencies: [],
    });
  });

  it.each([
    ['bad indentation', 'name: x\ndependencies:\n  - numpy\n - scipy\n', 4],
    ['unclosed flow sequence', 'name: x\nchannels: [a, b\ndependencies: []\n', 3],
    ['duplicate keys', 'name: a\nname: b\n', 2],
  ])('reports %s as project_file_invalid with the line', (_label, text, line) => {
    const error = errorOf(() => parseEnvironmentYml(text, '../../environment.yml'));
    expect(error.code).toBe('project_file_invalid');
    expect(error.details).toMatchObject({ path: '../../environment.yml', line });
    expect(error.message).not.toContain('\n');
  });

  it.each([
    ['a list at the top', '- numpy\n'],
    ['a scalar at the top', 'hello\n'],
    ['numbers as dependencies', 'dependencies:\n  - 5\n'],
    ['a string as channels', 'channels: conda-forge\n'],
  ])('refuses %s', (_label, text) => {
    expect(errorOf(() => parseEnvironmentYml(text)).code).toBe('project_file_invalid');
  });

  it('refuses a billion-laughs alias bomb', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'dependencies: *f',
    ].join('\n');
    expect(errorOf(() => parseEnvironmentYml(bomb)).code).toBe('project_file_invalid');
  });

  it('refuses deep flow nesting quickly, before the parser recurses', () => {
    const deep = `dependencies: ${'['.repeat(200_000)}${']'.repeat(200_000)}\n`;
    const error = errorOf(() => parseEnvironmentYml(deep));
    expect(error).toMatchObject({ code: 'project_file_invalid', details: { line: 1 } });
  });

  it('does not count brackets inside quotes or comments', () => {
    const text = `# ${'['.repeat(100)}\nname: "${'['.repeat(100)}"\ndependencies:\n  - "numpy[version='>=1']"\n`;
    expect(parseEnvironmentYml(text).dependencies).toHaveLength(1);
  });

  it('refuses deep block nesting with a typed error', () => {
    // Kept under the size limit so the nesting, not the size check, is what gets refused.
    const deep = Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
    expect(Buffer.byteLength(deep)).toBeLessThan(MAX_PROJECT_FILE_BYTES);
    const error = errorOf(() => parseEnvironmentYml(deep));
    expect(error).toBeInstanceOf(EnvDetectionError);
    expect(error.code).toBe('project_file_invalid');
    expect(error.message).not.toMatch(/limit is/);
  });

  it('does not let __proto__ reach prototypes', () => {
    const env = parseEnvironmentYml('__proto__:\n  polluted: true\nname: x\n');
    expect(env.envName).toBe('x');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not execute or construct custom tags', () => {
    const text = 'name: !!js/function "function () { return 1 }"\n';
    try {
      const env = parseEnvironmentYml(text);
      expect(typeof env.envName).toBe('string');
    } catch (error) {
      expect(error).toBeInstanceOf(EnvDetectionError);
    }
  });

  it.each(['numpy; rm -rf /', 'numpy `id`'])('refuses the conda injection attempt %j', (spec) => {
    const text = `dependencies:\n  - ${JSON.stringify(spec)}\n`;
    expect(errorOf(() => parseEnvironmentYml(text)).code).toBe('invalid_dependency');
  });

  it('refuses a pip injection attempt', () => {
    const text = 'dependencies:\n  - pip:\n      - "requests; import os"\n';
    expect(errorOf(() => parseEnvironmentYml(text)).code).toBe('invalid_dependency');
  });
});

describe('project files never throw untyped errors', () => {
  const names = ['pyproject.toml', 'pixi.toml', 'environment.yml', 'environment.yaml'] as const;

  it('for arbitrary text', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.string({ maxLength: 300 }), (name, text) => {
        try {
          parseProjectFile(name, text);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvDetectionError);
        }
      }),
    );
  });

  it('for structurally plausible files with arbitrary values', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('numpy', 'numpy>=1', '*', 'conda-forge', '; rm -rf /', '\u0000', '[', '{'),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(value, value), { maxLength: 5 }), (pairs) => {
        const toml = `[project]\ndependencies = ${JSON.stringify(pairs.map(([a]) => a))}\n[dependencies]\n${pairs.map(([a, b]) => `${JSON.stringify(a)} = ${JSON.stringify(b)}`).join('\n')}\n`;
        const yml = `name: ${JSON.stringify(pairs[0]?.[0] ?? 'x')}\ndependencies:\n${pairs.map(([a, b]) => `  - ${JSON.stringify(a)}\n  - pip: [${JSON.stringify(b)}]`).join('\n')}\n`;
        for (const [name, text] of [
          ['pyproject.toml', toml],
          ['pixi.toml', toml],
          ['environment.yml', yml],
        ] as const) {
          try {
            parseProjectFile(name, text);
          } catch (error) {
            expect(error).toBeInstanceOf(EnvDetectionError);
          }
        }
      }),
    );
  });
});
