import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toDependency } from './dependencies.js';
import { computeCondaEnvHash, computeUvEnvHash } from './env-hash.js';
import { EnvDetectionError } from './errors.js';
import { type EnvFs, type FileStat, nodeFs } from './fs.js';
import {
  ResolvedEnvironmentSchema,
  type ResolveEnvironmentInput,
  resolveEnvironment,
} from './resolve.js';

let root: string;
let home: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'runyard-env-')));
  home = join(root, 'home', 'user');
  mkdirSync(home, { recursive: true });
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes files (relative to the temp root); a trailing `/` makes a directory. */
function tree(files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    if (path.endsWith('/')) {
      mkdirSync(full, { recursive: true });
    } else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
}

const PYTHON = { kernelspec: { name: 'python3', language: 'python' } };
const DENO = { kernelspec: { name: 'deno', language: 'typescript' } };

async function resolveAt(
  notebookRel: string,
  metadata: Record<string, unknown> = PYTHON,
  extra: Partial<ResolveEnvironmentInput> = {},
) {
  const result = await resolveEnvironment({
    notebookPath: join(root, notebookRel),
    notebook: { nbformat: 4, nbformat_minor: 5, cells: [], metadata },
    fs: nodeFs,
    homeDir: home,
    ...extra,
  });
  // Every result satisfies the exported schema.
  expect(ResolvedEnvironmentSchema.parse(result)).toEqual(result);
  return result;
}

async function resolveError(
  notebookRel: string,
  metadata: Record<string, unknown> = PYTHON,
): Promise<EnvDetectionError> {
  try {
    await resolveAt(notebookRel, metadata);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvDetectionError);
    return error as EnvDetectionError;
  }
  throw new Error('expected a typed error');
}

const PYPROJECT = '[project]\nrequires-python = ">=3.10"\ndependencies = ["numpy>=1.26"]\n';
const PIXI = '[workspace]\nchannels = ["conda-forge"]\n[dependencies]\nnumpy = "*"\n';
const ENV_YML = 'name: yml\nchannels: [conda-forge]\ndependencies:\n  - scipy\n';

describe('Python rule 1: inline notebook metadata', () => {
  it('metadata.uv → uv:inline with requires-python', async () => {
    tree({ 'home/user/proj/pyproject.toml': PYPROJECT });
    const result = await resolveAt('home/user/proj/nb.ipynb', {
      ...PYTHON,
      uv: { dependencies: ['Pandas>=2'], 'requires-python': '>=3.11' },
    });
    expect(result).toMatchObject({
      runtime: 'python',
      source: 'uv:inline',
      projectFile: null,
      dependencies: [{ ecosystem: 'pypi', name: 'pandas', spec: 'Pandas>=2' }],
      requiresPython: '>=3.11',
      warnings: [],
    });
    expect(result.envHash).toBe(
      computeUvEnvHash({
        dependencies: [toDependency('pandas>=2', 'pypi')],
        requiresPython: '>=3.11',
      }),
    );
  });

  it('metadata.conda → conda:inline with channels and python', async () => {
    const result = await resolveAt('home/user/nb.ipynb', {
      ...PYTHON,
      conda: { dependencies: ['numpy=1.26'], channels: ['conda-forge'], python: '3.11' },
    });
    expect(result).toMatchObject({
      source: 'conda:inline',
      dependencies: [{ ecosystem: 'conda', name: 'numpy', spec: 'numpy=1.26' }],
      channels: ['conda-forge'],
      python: '3.11',
    });
    expect(result.envHash).toBe(
      computeCondaEnvHash({
        dependencies: [toDependency('numpy=1.26', 'conda')],
        channels: ['conda-forge'],
        python: '3.11',
      }),
    );
  });

  it.each([
    ['uv', 'uv:inline'],
    ['conda', 'conda:inline'],
  ] as const)(
    'both present: preferred manager %s wins with a warning',
    async (preferredManager, source) => {
      const result = await resolveAt(
        'home/user/nb.ipynb',
        { ...PYTHON, uv: { dependencies: ['numpy'] }, conda: { dependencies: ['numpy'] } },
        { preferences: { preferredManager } },
      );
      expect(result.source).toBe(source);
      expect(result.warnings).toEqual([
        expect.objectContaining({
          code: 'inline_manager_conflict',
          message: expect.stringContaining(preferredManager),
        }),
      ]);
    },
  );

  it('both present without preferences: uv wins', async () => {
    const result = await resolveAt('home/user/nb.ipynb', {
      ...PYTHON,
      uv: { dependencies: ['numpy'] },
      conda: { dependencies: ['numpy'] },
    });
    expect(result.source).toBe('uv:inline');
  });

  it('notebooks with the same dependencies share one environment; empty ones do not', async () => {
    const a = await resolveAt('home/user/a.ipynb', {
      ...PYTHON,
      uv: { dependencies: ['NumPy', 'pandas'] },
    });
    const b = await resolveAt('home/user/b.ipynb', {
      ...PYTHON,
      uv: { dependencies: ['pandas', 'numpy'] },
    });
    expect(a.envHash).toBe(b.envHash);
    const c = await resolveAt('home/user/c.ipynb', { ...PYTHON, uv: { dependencies: [] } });
    const d = await resolveAt('home/user/d.ipynb', { ...PYTHON, uv: { dependencies: [] } });
    expect(c.source).toBe('uv:inline');
    expect(c.envHash).not.toBe(d.envHash);
  });

  it('refuses an injection attempt in inline dependencies or channels', async () => {
    expect(
      (
        await resolveError('home/user/nb.ipynb', {
          ...PYTHON,
          uv: { dependencies: ['numpy; rm -rf /'] },
        })
      ).code,
    ).toBe('invalid_dependency');
    expect(
      (
        await resolveError('home/user/nb.ipynb', {
          ...PYTHON,
          conda: { dependencies: ['numpy'], channels: ['conda-forge && curl evil'] },
        })
      ).code,
    ).toBe('invalid_dependency');
  });
});

describe('Python rule 2: closest project file', () => {
  it('pyproject.toml → uv:pyproject, reported relative to the notebook', async () => {
    tree({ 'home/user/proj/pyproject.toml': PYPROJECT });
    const result = await resolveAt('home/user/proj/notebooks/deep/nb.ipynb');
    expect(result).toMatchObject({
      source: 'uv:pyproject',
      projectFile: '../../pyproject.toml',
      requiresPython: '>=3.10',
      dependencies: [{ ecosystem: 'pypi', name: 'numpy', spec: 'numpy>=1.26' }],
    });
    expect(result.envHash).toBe(
      computeUvEnvHash({
        dependencies: [toDependency('numpy>=1.26', 'pypi')],
        requiresPython: '>=3.10',
      }),
    );
  });

  it('pyproject.toml with [tool.pixi] → pixi:toml', async () => {
    tree({
      'home/user/proj/pyproject.toml':
        '[project]\ndependencies = ["rich"]\n[tool.pixi.workspace]\nchannels = ["conda-forge"]\n[tool.pixi.dependencies]\nnumpy = "*"\n',
    });
    const result = await resolveAt('home/user/proj/nb.ipynb');
    expect(result).toMatchObject({
      source: 'pixi:toml',
      projectFile: 'pyproject.toml',
      channels: ['conda-forge'],
      dependencies: [
        { ecosystem: 'conda', name: 'numpy', spec: 'numpy' },
        { ecosystem: 'pypi', name: 'rich', spec: 'rich' },
      ],
    });
  });

  it('pixi.toml → pixi:toml', async () => {
    tree({ 'home/user/proj/pixi.toml': PIXI });
    expect(await resolveAt('home/user/proj/nb.ipynb')).toMatchObject({
      source: 'pixi:toml',
      projectFile: 'pixi.toml',
      channels: ['conda-forge'],
    });
  });

  it.each(['environment.yml', 'environment.yaml'])('%s → conda:env_yml', async (name) => {
    tree({ [`home/user/proj/${name}`]: ENV_YML });
    const result = await resolveAt('home/user/proj/nb.ipynb');
    expect(result).toMatchObject({
      source: 'conda:env_yml',
      projectFile: name,
      envName: 'yml',
      channels: ['conda-forge'],
      dependencies: [{ ecosystem: 'conda', name: 'scipy', spec: 'scipy' }],
    });
    expect(result.envHash).toBe(
      computeCondaEnvHash({
        dependencies: [toDependency('scipy', 'conda')],
        channels: ['conda-forge'],
      }),
    );
  });

  it('checks pyproject.toml, pixi.toml, environment.yml, environment.yaml in that order', async () => {
    tree({
      'home/user/p/pyproject.toml': PYPROJECT,
      'home/user/p/pixi.toml': PIXI,
      'home/user/p/environment.yml': ENV_YML,
      'home/user/p/environment.yaml': ENV_YML,
    });
    expect((await resolveAt('home/user/p/nb.ipynb')).projectFile).toBe('pyproject.toml');
    rmSync(join(root, 'home/user/p/pyproject.toml'));
    expect((await resolveAt('home/user/p/nb.ipynb')).projectFile).toBe('pixi.toml');
    rmSync(join(root, 'home/user/p/pixi.toml'));
    expect((await resolveAt('home/user/p/nb.ipynb')).projectFile).toBe('environment.yml');
    rmSync(join(root, 'home/user/p/environment.yml'));
    expect((await resolveAt('home/user/p/nb.ipynb')).projectFile).toBe('environment.yaml');
  });

  it('the closest file wins over a preferred kind further up', async () => {
    tree({
      'home/user/p/pyproject.toml': PYPROJECT,
      'home/user/p/sub/environment.yml': ENV_YML,
    });
    expect(await resolveAt('home/user/p/sub/nb.ipynb')).toMatchObject({
      source: 'conda:env_yml',
      projectFile: 'environment.yml',
    });
  });

  it('checks a directory holding .git, then stops', async () => {
    tree({
      'home/user/pyproject.toml': PYPROJECT,
      'home/user/repo/.git/': '',
      'home/user/repo/sub/nb.ipynb': '{}',
    });
    expect((await resolveAt('home/user/repo/sub/nb.ipynb')).source).toBe('uv:prewarmed');
    tree({ 'home/user/repo/pixi.toml': PIXI });
    expect(await resolveAt('home/user/repo/sub/nb.ipynb')).toMatchObject({
      source: 'pixi:toml',
      projectFile: '../pixi.toml',
    });
  });

  it('treats a .git file (worktree, submodule) as a repository root too', async () => {
    tree({
      'home/user/pyproject.toml': PYPROJECT,
      'home/user/outer/sub/.git': 'gitdir: ../../.git/modules/sub\n',
    });
    expect((await resolveAt('home/user/outer/sub/nb.ipynb')).source).toBe('uv:prewarmed');
  });

  it('checks the home directory, then stops', async () => {
    tree({ 'home/pyproject.toml': PYPROJECT, 'pyproject.toml': PYPROJECT });
    expect((await resolveAt('home/user/a/b/nb.ipynb')).source).toBe('uv:prewarmed');
    tree({ 'home/user/environment.yml': ENV_YML });
    expect(await resolveAt('home/user/a/b/nb.ipynb')).toMatchObject({
      source: 'conda:env_yml',
      projectFile: '../../environment.yml',
    });
  });

  it('ignores directories and special files named like project files', async () => {
    tree({ 'home/user/p/pyproject.toml/': '', 'home/user/p/environment.yml': ENV_YML });
    symlinkSync('/dev/null', join(root, 'home/user/p/pixi.toml'));
    expect((await resolveAt('home/user/p/nb.ipynb')).projectFile).toBe('environment.yml');
  });

  it('follows a symlinked project file and ignores a symlink loop', async () => {
    tree({ 'home/user/shared/env.yml': ENV_YML, 'home/user/p/': '' });
    symlinkSync(join(root, 'home/user/p/pixi.toml'), join(root, 'home/user/p/pyproject.toml'));
    symlinkSync(join(root, 'home/user/p/pyproject.toml'), join(root, 'home/user/p/pixi.toml'));
    symlinkSync('../shared/env.yml', join(root, 'home/user/p/environment.yml'));
    expect((await resolveAt('home/user/p/nb.ipynb')).envName).toBe('yml');
  });

  it('keys a project without dependencies by the project, not the notebook', async () => {
    tree({
      'home/user/p/pyproject.toml': '[project]\nname = "x"\n',
      'home/user/q/pyproject.toml': '',
    });
    const a = await resolveAt('home/user/p/a.ipynb');
    const b = await resolveAt('home/user/p/sub/b.ipynb');
    const c = await resolveAt('home/user/q/c.ipynb');
    expect(a.source).toBe('uv:pyproject');
    expect(a.envHash).toBe(b.envHash);
    expect(a.envHash).not.toBe(c.envHash);
  });

  it('reports a malformed project file relative to the notebook with its line', async () => {
    tree({ 'home/user/p/pyproject.toml': '[project]\ndependencies = ["numpy"\n' });
    const error = await resolveError('home/user/p/nb/x.ipynb');
    expect(error.code).toBe('project_file_invalid');
    expect(error.details.path).toBe('../pyproject.toml');
    expect(error.details.line).toBeGreaterThanOrEqual(2);
    expect(error.message).not.toContain(root);
  });

  it('reports malformed YAML relative to the notebook with its line', async () => {
    tree({ 'home/user/environment.yml': 'name: x\ndependencies:\n  - a\n - b\n' });
    const error = await resolveError('home/user/p/x.ipynb');
    expect(error).toMatchObject({
      code: 'project_file_invalid',
      details: { path: '../environment.yml', line: 4 },
    });
    expect(error.message).not.toContain(root);
  });

  it('refuses an oversized or non-UTF-8 project file with a typed error', async () => {
    tree({ 'home/user/a/pixi.toml': `# ${'x'.repeat(2 * 1024 * 1024)}\n` });
    expect((await resolveError('home/user/a/nb.ipynb')).code).toBe('project_file_invalid');
    mkdirSync(join(root, 'home/user/b'));
    writeFileSync(join(root, 'home/user/b/pixi.toml'), Buffer.from([0x5b, 0xff, 0xfe, 0x5d]));
    expect((await resolveError('home/user/b/nb.ipynb')).code).toBe('project_file_invalid');
  });

  it('refuses an injection attempt in a project file', async () => {
    tree({ 'home/user/pixi.toml': '[pypi-dependencies]\nnumpy = ">=1; rm -rf /"\n' });
    expect(await resolveError('home/user/nb.ipynb')).toMatchObject({
      code: 'invalid_dependency',
      details: { path: 'pixi.toml' },
    });
  });

  it('passes project-file warnings through', async () => {
    tree({ 'home/user/environment.yml': 'dependencies:\n  - pip:\n    - -e .\n' });
    expect((await resolveAt('home/user/nb.ipynb')).warnings).toEqual([
      expect.objectContaining({ code: 'dependency_skipped' }),
    ]);
  });
});

describe('Python rule 3: prewarmed environment', () => {
  it('uv:prewarmed by default, keyed per notebook', async () => {
    tree({ 'home/user/.git/': '' });
    const a = await resolveAt('home/user/a.ipynb');
    const b = await resolveAt('home/user/b.ipynb');
    expect(a).toMatchObject({ source: 'uv:prewarmed', projectFile: null, dependencies: [] });
    expect(a.envHash).not.toBe(b.envHash);
  });

  it('conda:prewarmed when conda is preferred', async () => {
    const result = await resolveAt('home/user/a.ipynb', PYTHON, {
      preferences: { preferredManager: 'conda' },
    });
    expect(result.source).toBe('conda:prewarmed');
    expect(result.envHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('uses metadata.runyard.env_id, then an explicit envId, as the notebook identity', async () => {
    const meta = { ...PYTHON, runyard: { env_id: 'abc' } };
    const a = await resolveAt('home/user/a.ipynb', meta);
    const moved = await resolveAt('home/user/moved/a.ipynb', meta);
    expect(a.envHash).toBe(moved.envHash);
    expect(a.envHash).toBe(computeUvEnvHash({ dependencies: [], envId: 'abc' }));
    const explicit = await resolveAt('home/user/a.ipynb', meta, { envId: 'other' });
    expect(explicit.envHash).toBe(computeUvEnvHash({ dependencies: [], envId: 'other' }));
  });

  it('uses the default runtime for a notebook that names none', async () => {
    const result = await resolveAt(
      'home/user/a.ipynb',
      {},
      { preferences: { defaultRuntime: 'deno' } },
    );
    expect(result).toMatchObject({ runtime: 'deno', runtimeReason: 'default', source: 'deno' });
  });
});

describe('Deno notebooks', () => {
  it('source deno with the closest deno.json, beside a pyproject.toml', async () => {
    tree({ 'home/user/p/pyproject.toml': PYPROJECT, 'home/user/deno.json': '{}' });
    expect(await resolveAt('home/user/p/nb.ipynb', DENO)).toMatchObject({
      runtime: 'deno',
      runtimeReason: 'kernelspec_name',
      source: 'deno',
      projectFile: '../deno.json',
      dependencies: [],
      envHash: null,
    });
  });

  it('prefers deno.json over deno.jsonc in one directory, closest directory first', async () => {
    tree({ 'home/user/p/deno.jsonc': '{}', 'home/user/deno.json': '{}' });
    expect((await resolveAt('home/user/p/nb.ipynb', DENO)).projectFile).toBe('deno.jsonc');
    tree({ 'home/user/p/deno.json': '{}' });
    expect((await resolveAt('home/user/p/nb.ipynb', DENO)).projectFile).toBe('deno.json');
  });

  it('follows the same walk-up stops', async () => {
    tree({ 'home/user/deno.json': '{}', 'home/user/repo/.git/': '', 'home/deno.json': '{}' });
    expect((await resolveAt('home/user/repo/nb.ipynb', DENO)).projectFile).toBeNull();
    expect((await resolveAt('home/user/other/nb.ipynb', DENO)).projectFile).toBe('../deno.json');
  });

  it('ignores inline Python dependencies with a warning', async () => {
    const result = await resolveAt('home/user/nb.ipynb', {
      ...DENO,
      uv: { dependencies: ['numpy; rm -rf /'] },
    });
    expect(result.source).toBe('deno');
    expect(result.warnings).toEqual([
      expect.objectContaining({ code: 'inline_dependencies_ignored' }),
    ]);
  });
});

describe('walk-up boundaries (in-memory filesystem)', () => {
  function memoryFs(files: Record<string, string>) {
    const visited: string[] = [];
    const fs: EnvFs = {
      async stat(path): Promise<FileStat | null> {
        visited.push(path);
        if (path in files) return { kind: 'file', size: files[path]?.length ?? 0 };
        return null;
      },
      async readFile(path) {
        return files[path] ?? '';
      },
    };
    return { fs, visited };
  }

  it('never goes above the filesystem root, and checks the root itself', async () => {
    const { fs, visited } = memoryFs({});
    const result = await resolveEnvironment({
      notebookPath: '/srv/a/nb.ipynb',
      notebook: { metadata: PYTHON },
      fs,
      homeDir: '/home/user',
    });
    expect(result.source).toBe('uv:prewarmed');
    expect(visited.at(-1)).toBe('/.git');
    expect(visited).toContain('/pyproject.toml');
    expect(visited.filter((path) => path.startsWith('/..'))).toEqual([]);

    const withRootFile = memoryFs({ '/environment.yaml': ENV_YML });
    const found = await resolveEnvironment({
      notebookPath: '/srv/a/nb.ipynb',
      notebook: { metadata: PYTHON },
      fs: withRootFile.fs,
      homeDir: '/home/user',
    });
    expect(found.projectFile).toBe('../../environment.yaml');
  });

  it('refuses relative paths with a typed invalid_input error that names no path', async () => {
    const { fs } = memoryFs({});
    for (const input of [
      { notebookPath: 'secret-dir/nb.ipynb', homeDir: '/home/u' },
      { notebookPath: '/srv/nb.ipynb', homeDir: 'secret-dir' },
    ]) {
      const error = await resolveEnvironment({ ...input, notebook: {}, fs }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(EnvDetectionError);
      expect(error).toMatchObject({ code: 'invalid_input' });
      expect((error as Error).message).not.toContain('secret-dir');
    }
  });

  it('returns a result or a typed error for arbitrary notebooks and project files', async () => {
    const fileNames = ['pyproject.toml', 'pixi.toml', 'environment.yml', 'deno.json'];
    await fc.assert(
      fc.asyncProperty(
        fc.anything(),
        fc.dictionary(fc.constantFrom(...fileNames), fc.string({ maxLength: 100 })),
        async (notebook, files) => {
          const { fs } = memoryFs(
            Object.fromEntries(Object.entries(files).map(([name, text]) => [`/w/${name}`, text])),
          );
          try {
            const result = await resolveEnvironment({
              notebookPath: '/w/nb.ipynb',
              notebook,
              fs,
              homeDir: '/w',
            });
            ResolvedEnvironmentSchema.parse(result);
          } catch (error) {
            expect(error).toBeInstanceOf(EnvDetectionError);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
