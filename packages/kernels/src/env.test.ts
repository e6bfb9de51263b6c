import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildEnvRequest,
  createEnvBuilder,
  type EnvBuilder,
  type EnvProgress,
} from './env-builder.js';
import { createEnvCache } from './env-cache.js';
import { runCommand } from './process.js';
import { resolveBasePython } from './python.js';
import {
  bareVenv,
  buildTinyWheel,
  processesMentioning,
  rejection,
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
    const none = await rejection(
      resolveBasePython({ env: {}, candidates: [join(root, 'missing')] }),
    );
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
    const error = await rejection(builder.build({ prefix: join(root, 'isolated') }));
    expect(error.code).toBe('env_build_failed');
    expect(error.details.stderrTail?.join('\n')).toMatch(/pip/);
    expect(existsSync(join(root, 'isolated'))).toBe(false);

    const aborted = new AbortController();
    const pending = inherit().build({ prefix: join(root, 'aborted'), signal: aborted.signal });
    aborted.abort();
    expect((await rejection(pending)).code).toBe('env_build_aborted');
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
    expect((await rejection(builder.build({ prefix: join(root, 'noipk') }))).code).toBe(
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
      const error = await rejection(builder.build({ prefix, dependencies: ['tinypkg', bad] }));
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
      const error = await rejection(conda.build({ prefix: join(root, 'c-injected'), ...request }));
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

  it('a pixi-only builder (inline pixi) names pixi when it is missing, after checking PyPI specs', async () => {
    const pixi = createEnvBuilder({ kind: 'conda', condaTools: ['pixi'], env: { PATH: '' } });
    const missing = await rejection(
      pixi.build({ prefix: join(root, 'p1'), dependencies: ['numpy'], pypiDependencies: ['x'] }),
    );
    expect(missing).toMatchObject({ code: 'env_manager_unavailable', message: 'No pixi on PATH' });
    const injected = await rejection(
      pixi.build({ prefix: join(root, 'p2'), pypiDependencies: ['--index-url=http://evil'] }),
    );
    expect(injected.code).toBe('invalid_dependency');
    expect(existsSync(join(root, 'p1'))).toBe(false);
    const any = await rejection(
      createEnvBuilder({ kind: 'conda', env: { PATH: '' } }).build({ prefix: join(root, 'p3') }),
    );
    expect(any.message).toBe('No micromamba, mamba, conda or pixi on PATH');
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
    const missing = await rejection(
      builder.build({ prefix: join(root, 'c1'), environmentYml: yml }),
    );
    expect(missing.code).toBe('conda_env_yml_missing');
    expect(missing.message).toContain('analysis');
    expect(
      (
        await rejection(
          builder.build({ prefix: join(root, 'c2'), environmentYml: join(root, 'nope.yml') }),
        )
      ).code,
    ).toBe('conda_env_yml_missing');
    writeFileSync(yml, 'name: ../../etc\n');
    expect(
      (await rejection(builder.build({ prefix: join(root, 'c3'), environmentYml: yml }))).code,
    ).toBe('conda_env_yml_missing');
    // Without a yml, no conda tool means a typed error rather than a silent fallback.
    expect((await rejection(builder.build({ prefix: join(root, 'c4') }))).code).toBe(
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

    const def = await cache.get('def456');
    clock += 10 * 86_400_000;
    utimesSync(join(cache.envsDir, 'def456', '.runyard-env.json'), clock / 1000, clock / 1000);
    // Every get leases the env: nothing in use is collected, however old.
    expect(cache.inUse('abc123')).toBe(true);
    expect(cache.gc({ maxAgeDays: 5, maxCount: 0 })).toEqual([]);
    for (const lease of [a, b, hit, rebuilt]) lease.release();
    a.release(); // idempotent: does not release someone else's use
    expect(cache.inUse('abc123')).toBe(false);
    expect(cache.gc({ maxAgeDays: 5 })).toEqual(['abc123']);
    expect(cache.list().map((e) => e.envHash)).toEqual(['def456']);
    expect(cache.gc({ maxCount: 0 })).toEqual([]);
    def.release();
    expect(cache.gc({ maxCount: 0 })).toEqual(['def456']);
  });

  it('builds in place, so console scripts and python -m ipykernel work in the cached env', async () => {
    const builder = createEnvBuilder({
      kind: 'venv',
      basePython: SYSTEM_PYTHON,
      isolation: 'inherit',
      wheelhouse: { findLinks: [wheelhouse] },
    });
    const cache = createEnvCache({ cacheDir: join(root, 'cache-inplace'), builder });
    const { entry, release } = await cache.get('scripts1', { dependencies: ['tinypkg'] });
    try {
      // The script's shebang names the env's interpreter by absolute path: a renamed env breaks it.
      const script = (await runCommand([join(entry.prefix, 'bin', 'tinypkg')])).stdout;
      expect(script.trim()).toBe('42');
      const version = await runCommand([entry.python, '-m', 'ipykernel', '--version']);
      expect(version.code).toBe(0);
      expect(version.stdout).toMatch(/\d+\.\d+/);
      expect(readdirSync(cache.envsDir).sort()).toEqual([
        `.scripts1.use-${process.pid}`,
        'scripts1',
      ]);
    } finally {
      release();
    }
    expect(readdirSync(cache.envsDir)).toEqual(['scripts1']);
  });

  it('deletes and rebuilds an interrupted build; gc respects leases of live processes only', async () => {
    const cache = createEnvCache({ cacheDir: join(root, 'cache-crash'), builder: inherit() });
    const dead = spawnSync('true').pid as number;
    mkdirSync(join(cache.envsDir, 'crashed', 'bin'), { recursive: true });
    writeFileSync(join(cache.envsDir, 'crashed', 'half-written'), '');
    writeFileSync(join(cache.envsDir, '.crashed.building'), JSON.stringify({ pid: dead }));
    const rebuilt = await cache.get('crashed');
    expect(rebuilt.hit).toBe(false);
    expect(existsSync(join(rebuilt.entry.prefix, 'half-written'))).toBe(false);
    expect(existsSync(join(cache.envsDir, '.crashed.building'))).toBe(false);
    expect((await runCommand([rebuilt.entry.python, '-c', 'import ipykernel'])).code).toBe(0);
    rebuilt.release();

    // A leftover for a hash nobody asks for is removed by recover (and gc); a torn marker too.
    mkdirSync(join(cache.envsDir, 'orphan'));
    writeFileSync(join(cache.envsDir, '.orphan.building'), JSON.stringify({ pid: dead }));
    mkdirSync(join(cache.envsDir, 'torn'));
    writeFileSync(join(cache.envsDir, '.torn.building'), '{"pi');
    expect(cache.recover().sort()).toEqual(['orphan', 'torn']);
    expect(readdirSync(cache.envsDir)).toEqual(['crashed']);

    // Another live process's lease pins the env; a dead one's does not.
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(cache.envsDir, `.crashed.use-${holder.pid}`), '');
      writeFileSync(join(cache.envsDir, `.crashed.use-${dead}`), '');
      expect(cache.inUse('crashed')).toBe(true);
      expect(cache.gc({ maxCount: 0 })).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    expect(cache.inUse('crashed')).toBe(false);
    expect(cache.gc({ maxCount: 0 })).toEqual(['crashed']);
    rmSync(join(cache.envsDir, `.crashed.use-${holder.pid}`), { force: true });
    expect(readdirSync(cache.envsDir)).toEqual([]);
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
