import { existsSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildEnvRequest,
  createEnvBuilder,
  type EnvBuilder,
  type EnvProgress,
} from './env-builder.js';
import { createEnvCache } from './env-cache.js';
import { KernelError } from './errors.js';
import { runCommand } from './process.js';
import { resolveBasePython } from './python.js';
import {
  bareVenv,
  buildTinyWheel,
  processesMentioning,
  removeRoot,
  SYSTEM_PYTHON,
  tempRoot,
} from './test-support/helpers.js';

const root = tempRoot('env');
let barePython: string;
let wheelhouse: string;

beforeAll(() => {
  barePython = bareVenv(join(root, 'bare'));
  wheelhouse = join(root, 'wheels');
  mkdirSync(wheelhouse);
  buildTinyWheel(wheelhouse);
});

afterAll(() => {
  expect(processesMentioning(root)).toEqual([]);
  removeRoot(root);
});

async function failure(promise: Promise<unknown>): Promise<KernelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KernelError);
  return error as KernelError;
}

const inherit = () =>
  createEnvBuilder({ kind: 'venv', basePython: SYSTEM_PYTHON, isolation: 'auto' });

describe('base interpreter', () => {
  it('prefers configuration, then RUNYARD_PYTHON, then the first candidate with ipykernel', async () => {
    expect(
      await resolveBasePython({ configured: barePython, env: { RUNYARD_PYTHON: SYSTEM_PYTHON } }),
    ).toEqual({
      python: barePython,
      source: 'config',
      hasIpykernel: false,
    });
    expect(await resolveBasePython({ env: { RUNYARD_PYTHON: SYSTEM_PYTHON } })).toMatchObject({
      python: SYSTEM_PYTHON,
      source: 'env',
      hasIpykernel: true,
    });
    const picked = await resolveBasePython({
      env: {},
      candidates: [join(root, 'missing'), barePython, SYSTEM_PYTHON],
    });
    expect(picked).toEqual({ python: SYSTEM_PYTHON, source: 'candidate', hasIpykernel: true });
    const none = await failure(resolveBasePython({ env: {}, candidates: [join(root, 'missing')] }));
    expect(none.code).toBe('python_not_found');
  });
});

describe('venv builder', () => {
  it('inherits the base ipykernel, streams progress and verifies the interpreter', async () => {
    const progress: EnvProgress[] = [];
    const built = await inherit().build({
      prefix: join(root, 'inherit'),
      onProgress: (e) => progress.push(e),
    });
    expect(built).toMatchObject({
      manager: 'venv',
      inheritsBase: true,
      python: join(root, 'inherit', 'bin', 'python'),
    });
    expect(progress.map((e) => e.phase)).toEqual(
      expect.arrayContaining(['create', 'verify', 'done']),
    );
    expect(progress.at(-1)).toEqual({ phase: 'done', message: 'Environment ready', fraction: 1 });
  });

  it('installs a wheel from an offline wheelhouse with no package index', async () => {
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      wheelhouse: { findLinks: [wheelhouse] },
      // No proxy, no index: the install can only come from the wheelhouse.
      env: { ...process.env, PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_FIND_LINKS: '' },
    });
    const built = await builder.build({
      prefix: join(root, 'wheel'),
      dependencies: ['tinypkg==0.1.0'],
    });
    const probe = await runCommand([built.python, '-c', 'import tinypkg; print(tinypkg.VALUE)']);
    expect(probe.stdout.trim()).toBe('42');
  });

  it('fails typed (never hangs) when an isolated env cannot install ipykernel, and cleans up', async () => {
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'isolated',
      withoutPip: true,
    });
    const error = await failure(builder.build({ prefix: join(root, 'isolated') }));
    expect(error.code).toBe('env_build_failed');
    expect(error.details.stderrTail?.join('\n')).toMatch(/pip/);
    expect(existsSync(join(root, 'isolated'))).toBe(false);

    const aborted = new AbortController();
    const pending = inherit().build({ prefix: join(root, 'aborted'), signal: aborted.signal });
    aborted.abort();
    expect((await failure(pending)).code).toBe('env_build_aborted');
    expect(existsSync(join(root, 'aborted'))).toBe(false);
  });

  it('reports missing_ipykernel when the final check fails', async () => {
    // Inheriting (so nothing installs ipykernel) but without the system site packages that hold it.
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      systemSitePackages: false,
      withoutPip: true,
    });
    expect((await failure(builder.build({ prefix: join(root, 'noipk') }))).code).toBe(
      'missing_ipykernel',
    );
  });
});

describe('dependency validation', () => {
  it('refuses option-shaped or malformed dependencies and channels before running any tool', async () => {
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      wheelhouse: { findLinks: [wheelhouse] },
    });
    for (const bad of [
      '--index-url=http://127.0.0.1:9/simple',
      '-r/etc/passwd',
      ' --extra-index-url x',
      '-e.',
      '-e .',
      '--index-url=http://evil',
      'tinypkg\n--index-url=http://evil',
      'tinypkg\r\n-r/etc/passwd',
      'numpy; rm -rf /',
      '',
      42 as unknown as string,
    ]) {
      const prefix = join(root, 'injected');
      const error = await failure(builder.build({ prefix, dependencies: ['tinypkg', bad] }));
      expect(error.code).toBe('invalid_dependency');
      expect(error.message).toContain('Dependency 2');
      if (typeof bad === 'string' && bad.trim() !== '')
        expect(error.message).not.toContain(bad.trim());
      // Nothing was created: the refusal comes before `python -m venv`.
      expect(existsSync(prefix)).toBe(false);
    }
    const conda = createEnvBuilder({ kind: 'conda', env: { PATH: '' } });
    for (const request of [
      { dependencies: ['--override-channels'] },
      { dependencies: ['numpy'], channels: ['--insecure'] },
      { dependencies: ['numpy'], channels: ['conda forge; x'] },
    ]) {
      const error = await failure(conda.build({ prefix: join(root, 'c-injected'), ...request }));
      expect(error.code).toBe('invalid_dependency');
    }
  });

  it('still installs valid requirements (argv ends options with --)', async () => {
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      wheelhouse: { findLinks: [wheelhouse] },
    });
    const built = await builder.build({
      prefix: join(root, 'valid-deps'),
      dependencies: ['TinyPkg == 0.1.0 ; python_version >= "3"'],
    });
    const probe = await runCommand([built.python, '-c', 'import tinypkg; print(tinypkg.VALUE)']);
    expect(probe.stdout.trim()).toBe('42');
  });
});

describe('uv and conda builders', () => {
  it('uv is unavailable without uv on PATH', () => {
    expect(() =>
      createEnvBuilder({ kind: 'uv', basePython: SYSTEM_PYTHON, env: { PATH: '' } }),
    ).toThrow(expect.objectContaining({ code: 'env_manager_unavailable' }));
  });

  it('a named environment.yml env that does not exist is conda_env_yml_missing', async () => {
    const envsDir = join(root, 'conda-envs');
    mkdirSync(envsDir, { recursive: true });
    const yml = join(root, 'environment.yml');
    writeFileSync(
      yml,
      'name: analysis  # project env\nchannels:\n  - conda-forge\ndependencies:\n  - numpy\n',
    );
    const builder = createEnvBuilder({
      kind: 'conda',
      env: { PATH: '' },
      condaEnvsDirs: [envsDir],
    });
    const missing = await failure(builder.build({ prefix: join(root, 'c1'), environmentYml: yml }));
    expect(missing.code).toBe('conda_env_yml_missing');
    expect(missing.message).toContain('analysis');
    expect(
      (
        await failure(
          builder.build({ prefix: join(root, 'c2'), environmentYml: join(root, 'nope.yml') }),
        )
      ).code,
    ).toBe('conda_env_yml_missing');
    writeFileSync(yml, 'name: ../../etc\n');
    expect(
      (await failure(builder.build({ prefix: join(root, 'c3'), environmentYml: yml }))).code,
    ).toBe('conda_env_yml_missing');
    // Without a yml, no conda tool means a typed error rather than a silent fallback.
    expect((await failure(builder.build({ prefix: join(root, 'c4') }))).code).toBe(
      'env_manager_unavailable',
    );
  });
});

describe('env cache', () => {
  it('builds one hash once under concurrent requests, then hits and touches last-used', async () => {
    let builds = 0;
    const base = inherit();
    const counting: EnvBuilder = {
      kind: base.kind,
      tool: base.tool,
      build: (request: BuildEnvRequest) => {
        builds += 1;
        return base.build(request);
      },
    };
    let clock = Date.now();
    const cache = createEnvCache({
      cacheDir: join(root, 'cache'),
      builder: counting,
      now: () => clock,
    });
    const [a, b] = await Promise.all([cache.get('abc123'), cache.get('abc123')]);
    expect(builds).toBe(1);
    expect(a.entry.prefix).toBe(join(root, 'cache', 'envs', 'abc123'));
    expect(b.entry.prefix).toBe(a.entry.prefix);
    expect([a.hit, b.hit].sort()).toEqual([false, true]);
    expect((await runCommand([a.entry.python, '-c', 'import ipykernel'])).code).toBe(0);

    clock += 60_000;
    const hit = await cache.get('abc123');
    expect(hit.hit).toBe(true);
    expect(Math.abs((cache.lookup('abc123')?.lastUsedAt ?? 0) - clock)).toBeLessThan(1);
    expect(builds).toBe(1);

    // A hit needs the completion marker.
    rmSync(join(a.entry.prefix, '.runyard-env.json'));
    expect(cache.lookup('abc123')).toBeUndefined();
    const rebuilt = await cache.get('abc123');
    expect(rebuilt.hit).toBe(false);
    expect(builds).toBe(2);

    await cache.get('def456');
    clock += 10 * 86_400_000;
    utimesSync(join(cache.envsDir, 'def456', '.runyard-env.json'), clock / 1000, clock / 1000);
    expect(cache.gc({ maxAgeDays: 5 })).toEqual(['abc123']);
    expect(cache.list().map((e) => e.envHash)).toEqual(['def456']);
    expect(cache.gc({ maxCount: 0 })).toEqual(['def456']);
  });

  it('rejects env hashes that are not path-safe', () => {
    const cache = createEnvCache({ cacheDir: join(root, 'cache2'), builder: inherit() });
    for (const bad of ['../x', 'a/b', '', '__proto__/..', 'x'.repeat(200)]) {
      expect(() => cache.lookup(bad)).toThrow(
        expect.objectContaining({ code: 'env_hash_invalid' }),
      );
    }
  });
});
