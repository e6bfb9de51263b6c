import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ResolvedEnvironment } from '@runyard/env-detection';
import {
  type BasePython,
  checkBuildDependencies,
  createEnvBuilder,
  createEnvCache,
  createEnvPool,
  createKernelPool,
  type EnvBuilder,
  type EnvCache,
  type EnvPool,
  type EnvProgress,
  type Isolation,
  ipykernelArgv,
  type KernelClient,
  KernelError,
  type KernelPool,
  kernelEnvironment,
  launchKernel,
  type Wheelhouse,
} from '@runyard/kernels';
import type { RuntimeSandbox } from './sandboxing.js';
import { unsafe, WorkspaceFs } from './workspace-fs.js';

/** environment.yml is a project file: the same limit as detection's (1 MiB). */
const MAX_ENV_YML_BYTES = 1024 * 1024;

/** An environment a kernel runs in. `exclusive` envs belong to one notebook and die with it. */
export interface PreparedEnv {
  prefix: string;
  python: string;
  exclusive: boolean;
  /** Shared (cached) envs: ends this session's lease so the cache's gc may collect the env. */
  release?: () => void;
}

export interface EnvironmentOptions {
  cacheDir: string;
  basePython: BasePython;
  isolation: Isolation;
  wheelhouse: Wheelhouse | undefined;
  /** Environment of build tools and kernels. */
  env: NodeJS.ProcessEnv;
  runtimeDir: string;
  pool: { envs: number; kernels: number };
  workspaceRoot: string;
  /** Wraps every kernel in bubblewrap when the runtime is sandboxed. */
  sandbox: RuntimeSandbox;
}

export interface PoolCounters {
  envFailures: number;
  kernelFailures: number;
  kernelWarming: boolean;
}

/**
 * Where kernels' environments come from: the content-hash cache for declared dependencies, the
 * prewarmed pools for notebooks that declare none, and fresh exclusive envs otherwise.
 */
export class Environments {
  readonly venvBuilder: EnvBuilder;
  private readonly venvCache: EnvCache;
  private condaCache: EnvCache | undefined;
  private pixiCache: EnvCache | undefined;
  readonly envPool: EnvPool | undefined;
  readonly kernelPool: KernelPool | undefined;
  /** The env each pooled kernel runs in, so a claimed kernel hands its env to the notebook. */
  private readonly kernelEnvs = new WeakMap<KernelClient, PreparedEnv>();
  readonly counters: PoolCounters = { envFailures: 0, kernelFailures: 0, kernelWarming: false };
  private readonly claimedDir: string;
  readonly envPoolSize: number;
  readonly kernelPoolSize: number;

  constructor(private readonly options: EnvironmentOptions) {
    this.claimedDir = join(options.cacheDir, 'claimed');
    this.envPoolSize = options.pool.envs;
    this.kernelPoolSize = options.pool.kernels;
    this.venvBuilder = createEnvBuilder({
      kind: 'venv',
      basePython: options.basePython.python,
      baseHasIpykernel: options.basePython.hasIpykernel,
      isolation: options.isolation,
      env: options.env,
      ...(options.wheelhouse ? { wheelhouse: options.wheelhouse } : {}),
    });
    this.venvCache = createEnvCache({ cacheDir: options.cacheDir, builder: this.venvBuilder });
    if (options.pool.envs > 0) {
      this.envPool = createEnvPool({
        poolDir: join(options.cacheDir, 'pool'),
        builders: [this.venvBuilder],
        size: options.pool.envs,
        onEvent: (event) => {
          if (event.type === 'build_failed') this.counters.envFailures++;
        },
      });
    }
    if (options.pool.kernels > 0) {
      this.kernelPool = createKernelPool({
        size: options.pool.kernels,
        launch: (signal) => this.launchPooled(signal),
        onEvent: (event) => {
          if (event.type === 'launch_failed') this.counters.kernelFailures++;
        },
      });
    }
  }

  /** Removes what a previous run left: claimed envs nobody owns and half-built cache entries. */
  cleanLeftovers(): void {
    rmSync(this.claimedDir, { recursive: true, force: true });
    const envsDir = this.venvCache.envsDir;
    let entries: string[] = [];
    try {
      entries = readdirSync(envsDir);
    } catch {
      return;
    }
    for (const name of entries) {
      if (name.startsWith('.tmp-') || name.startsWith('.trash-'))
        rmSync(join(envsDir, name), { recursive: true, force: true });
    }
    // Builds interrupted by a crash: their `.building` marker outlived the process.
    this.venvCache.recover();
  }

  start(): void {
    this.envPool?.start();
    this.kernelPool?.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.kernelPool?.stop(), this.envPool?.stop()]);
    this.options.sandbox.sweepKernelDirs();
  }

  get sandbox(): RuntimeSandbox {
    return this.options.sandbox;
  }

  /** Launches a kernel on an env; the caller owns both. */
  launch(env: PreparedEnv, options: { cwd: string; signal?: AbortSignal }): Promise<KernelClient> {
    return launchKernel({
      argv: ipykernelArgv(env.python),
      cwd: options.cwd,
      // Never hand the runtime's own RUNYARD_* settings (tokens, secrets) to notebook code.
      env: kernelEnvironment(this.options.env),
      runtimeDir: this.options.runtimeDir,
      kernelName: 'python3',
      ...(options.signal ? { signal: options.signal } : {}),
      ...this.options.sandbox.kernelLaunch(env, options.cwd),
    });
  }

  private async launchPooled(signal: AbortSignal): Promise<KernelClient> {
    this.counters.kernelWarming = true;
    try {
      const env = await this.exclusiveEnv({ signal });
      try {
        const client = await this.launch(env, { cwd: this.options.workspaceRoot, signal });
        this.kernelEnvs.set(client, env);
        // A pooled kernel discarded by the pool (dead, too old) takes its env with it.
        client.on('status', (status) => {
          if (status === 'dead' && !this.claimed.has(client)) this.discard(env);
        });
        return client;
      } catch (error) {
        this.discard(env);
        throw error;
      }
    } finally {
      this.counters.kernelWarming = false;
    }
  }

  private readonly claimed = new WeakSet<KernelClient>();

  /** A warm kernel on a base-only env, or undefined when the kernel pool is off or empty. */
  async claimKernel(): Promise<{ client: KernelClient; env: PreparedEnv } | undefined> {
    if (!this.kernelPool || this.kernelPool.ready === 0) return undefined;
    const client = await this.kernelPool.claim();
    this.claimed.add(client);
    const env = this.kernelEnvs.get(client);
    if (!env) {
      await client.shutdown().catch(() => undefined);
      return undefined;
    }
    return { client, env };
  }

  /** A base-only env for one notebook: a prewarmed one when available, else a fresh venv. */
  async exclusiveEnv(options: {
    signal?: AbortSignal;
    onProgress?: (event: EnvProgress) => void;
  }): Promise<PreparedEnv> {
    mkdirSync(this.claimedDir, { recursive: true });
    const into = join(this.claimedDir, randomUUID());
    const pooled = this.envPool?.claim({ manager: 'venv', into });
    if (pooled) return { prefix: pooled.prefix, python: pooled.python, exclusive: true };
    const built = await this.venvBuilder.build({
      prefix: into,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { prefix: built.prefix, python: built.python, exclusive: true };
  }

  /**
   * The cache a resolved environment is built in: inline pixi (`metadata.runt.pixi`) by pixi
   * itself, other conda sources by the first conda tool on PATH, uv sources as venvs.
   */
  private cacheFor(resolved: ResolvedEnvironment): EnvCache {
    if (resolved.source === 'pixi:inline') return this.pixi();
    const conda = resolved.source.startsWith('conda:') || resolved.source === 'pixi:toml';
    return conda ? this.conda() : this.venvCache;
  }

  /** Whether `cachedEnv` would be a cache hit (no build). */
  isCached(resolved: ResolvedEnvironment): boolean {
    if (!resolved.envHash) return false;
    return this.cacheFor(resolved).lookup(resolved.envHash) !== undefined;
  }

  /** The env for a resolved notebook environment with dependencies (cache hit or build). */
  async cachedEnv(
    resolved: ResolvedEnvironment,
    options: {
      notebookDir: string;
      signal?: AbortSignal;
      onProgress?: (event: EnvProgress) => void;
    },
  ): Promise<{ env: PreparedEnv; hit: boolean }> {
    const envHash = resolved.envHash;
    if (!envHash) throw new KernelError('env_build_failed', 'The environment has no hash');
    const cache = this.cacheFor(resolved);
    const conda = cache !== this.venvCache;
    // Inline pixi lists conda and PyPI packages: each goes to its own installer.
    const pixiInline = resolved.source === 'pixi:inline';
    const environmentYml =
      resolved.source === 'conda:env_yml' && resolved.projectFile
        ? await this.copyEnvironmentYml(resolve(options.notebookDir, resolved.projectFile))
        : undefined;
    let got: Awaited<ReturnType<EnvCache['get']>>;
    try {
      got = await cache.get(envHash, {
        dependencies: resolved.dependencies
          .filter((dep) => !pixiInline || dep.ecosystem === 'conda')
          .map((dep) => dep.spec),
        ...(pixiInline
          ? {
              pypiDependencies: resolved.dependencies
                .filter((dep) => dep.ecosystem === 'pypi')
                .map((dep) => dep.spec),
            }
          : {}),
        ...(conda && resolved.channels.length > 0 ? { channels: resolved.channels } : {}),
        ...(environmentYml ? { environmentYml } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
    } finally {
      if (environmentYml) rmSync(environmentYml, { force: true });
    }
    const { entry, hit, release } = got;
    return {
      env: { prefix: entry.prefix, python: entry.python, exclusive: false, release },
      hit,
    };
  }

  /**
   * The builder reads environment.yml by name, synchronously: a kernel could have swapped the
   * workspace file for a FIFO (a frozen event loop) or a symlink since detection read it. So it
   * is read here through `WorkspaceFs` and the builder gets a private copy in the cache dir.
   */
  private async copyEnvironmentYml(path: string): Promise<string> {
    const files = new WorkspaceFs(this.options.workspaceRoot);
    const rel = files.relativeOf(path);
    if (rel === undefined) throw unsafe('The environment.yml is outside the workspace');
    const text = await files.readFile(rel, { maxBytes: MAX_ENV_YML_BYTES });
    if (text === null)
      throw new KernelError('conda_env_yml_missing', 'The environment.yml file does not exist');
    const dir = join(this.options.cacheDir, 'tmp');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const copy = join(dir, `environment-${randomUUID()}.yml`);
    writeFileSync(copy, text, { mode: 0o600, flag: 'wx' });
    return copy;
  }

  private conda(): EnvCache {
    if (!this.condaCache) {
      const builder = createEnvBuilder({ kind: 'conda', env: this.options.env });
      this.condaCache = createEnvCache({ cacheDir: join(this.options.cacheDir, 'conda'), builder });
    }
    return this.condaCache;
  }

  private pixi(): EnvCache {
    if (!this.pixiCache) {
      const builder = createEnvBuilder({
        kind: 'conda',
        condaTools: ['pixi'],
        env: this.options.env,
        ...(this.options.wheelhouse ? { wheelhouse: this.options.wheelhouse } : {}),
      });
      this.pixiCache = createEnvCache({ cacheDir: join(this.options.cacheDir, 'pixi'), builder });
    }
    return this.pixiCache;
  }

  /** Installs packages into an env in place (for `apply: 'sync'` on an exclusive env). */
  install(env: PreparedEnv, specs: readonly string[]): Promise<void> {
    // Specs end up in pip's argv: refuse option-shaped ones (invalid_dependency) and end options.
    const checked = checkBuildDependencies('pypi', specs);
    const args = ['-m', 'pip', 'install'];
    const wheelhouse = this.options.wheelhouse;
    if (wheelhouse) {
      if (wheelhouse.noIndex !== false) args.push('--no-index');
      for (const dir of wheelhouse.findLinks) args.push('--find-links', dir);
    }
    return new Promise((resolvePromise, reject) => {
      execFile(
        env.python,
        [...args, '--', ...checked],
        {
          env: { ...this.options.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
          maxBuffer: 8 * 1024 * 1024,
        },
        (error, _stdout, stderr) => {
          if (!error) {
            resolvePromise();
            return;
          }
          reject(
            new KernelError('env_build_failed', 'Installing the dependencies failed', {
              details: { stderrTail: stderr.split('\n').slice(-20) },
            }),
          );
        },
      );
    });
  }

  discard(env: PreparedEnv): void {
    if (env.exclusive) rmSync(env.prefix, { recursive: true, force: true });
    else env.release?.();
  }
}
