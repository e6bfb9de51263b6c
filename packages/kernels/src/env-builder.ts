import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseChannel, parseCondaSpec, parseRequirement } from '@runyard/env-detection';
import { KernelError, MAX_BUILD_LOG_BYTES } from './errors.js';
import { runCommand, which } from './process.js';
import { pythonHasIpykernel } from './python.js';

export type EnvManager = 'venv' | 'uv' | 'conda';
export type Isolation = 'auto' | 'inherit' | 'isolated';
export type CondaTool = 'micromamba' | 'mamba' | 'conda' | 'pixi';

export interface EnvProgress {
  phase: 'prepare' | 'create' | 'install' | 'verify' | 'done';
  message: string;
  fraction?: number;
}

export interface BuildEnvRequest {
  /** Directory to create the environment in (must not exist yet). */
  prefix: string;
  /** Requirement strings for pip/uv, package specs for conda. */
  dependencies?: string[];
  /** conda only. */
  channels?: string[];
  /**
   * conda only: PEP 508 requirements installed from PyPI into the env (pixi: `pixi add --pypi`;
   * the other tools: the env's own `python -m pip install` after creating it).
   */
  pypiDependencies?: string[];
  /**
   * conda only: an environment.yml naming an existing environment. A named env that does not
   * exist is `conda_env_yml_missing`, never a silent fallback.
   */
  environmentYml?: string;
  onProgress?: (event: EnvProgress) => void;
  signal?: AbortSignal;
}

export interface BuiltEnv {
  prefix: string;
  python: string;
  manager: EnvManager;
  tool: string;
  /** Whether the env sees the base interpreter's packages. */
  inheritsBase: boolean;
}

export interface EnvBuilder {
  readonly kind: EnvManager;
  /** The executable doing the work (python, uv, micromamba, ...). */
  readonly tool: string;
  build(request: BuildEnvRequest): Promise<BuiltEnv>;
}

export interface Wheelhouse {
  findLinks: string[];
  /** Default true: a wheelhouse means no package index. */
  noIndex?: boolean;
}

export interface EnvBuilderOptions {
  kind: EnvManager;
  /** Base interpreter (venv, uv). Resolve it with `resolveBasePython`. */
  basePython?: string;
  /** Whether the base has ipykernel; probed when omitted and isolation is 'auto'. */
  baseHasIpykernel?: boolean;
  /** Default 'auto': inherit the base's packages when it has ipykernel. */
  isolation?: Isolation;
  /** venv: default `true` when inheriting. */
  systemSitePackages?: boolean;
  /** venv: default `true` when inheriting (pip comes from the base), else `false`. */
  withoutPip?: boolean;
  wheelhouse?: Wheelhouse;
  env?: NodeJS.ProcessEnv;
  /** conda: tools in preference order; the first on PATH is used. */
  condaTools?: CondaTool[];
  /** conda: where named environments live (for environment.yml). */
  condaEnvsDirs?: string[];
  home?: string;
}

export function interpreterPath(prefix: string): string {
  return process.platform === 'win32'
    ? join(prefix, 'Scripts', 'python.exe')
    : join(prefix, 'bin', 'python');
}

/** Which managers can build here: venv always, uv/conda when their tool is on PATH. */
export function availableEnvManagers(env: NodeJS.ProcessEnv = process.env): EnvManager[] {
  const managers: EnvManager[] = ['venv'];
  if (which('uv', env)) managers.push('uv');
  if (findCondaTool(env)) managers.push('conda');
  return managers;
}

export function findCondaTool(
  env: NodeJS.ProcessEnv = process.env,
  order: CondaTool[] = ['micromamba', 'mamba', 'conda', 'pixi'],
): { tool: CondaTool; path: string } | undefined {
  for (const tool of order) {
    const path = which(tool, env);
    if (path) return { tool, path };
  }
  return undefined;
}

function defaultCondaEnvsDirs(env: NodeJS.ProcessEnv, home: string): string[] {
  const dirs: string[] = [];
  for (const entry of (env.CONDA_ENVS_PATH ?? env.CONDA_ENVS_DIRS ?? '').split(delimiter))
    if (entry) dirs.push(entry);
  if (env.MAMBA_ROOT_PREFIX) dirs.push(join(env.MAMBA_ROOT_PREFIX, 'envs'));
  if (env.CONDA_ROOT) dirs.push(join(env.CONDA_ROOT, 'envs'));
  dirs.push(
    join(home, 'micromamba', 'envs'),
    join(home, '.conda', 'envs'),
    join(home, 'miniconda3', 'envs'),
  );
  dirs.push(join(home, 'miniforge3', 'envs'), join(home, 'anaconda3', 'envs'));
  return [...new Set(dirs)];
}

/** Reads `name:` from an environment.yml without a YAML dependency (top-level scalar only). */
export function environmentYmlName(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const match = /^name:\s*["']?([^"'#\s]+)["']?\s*(#.*)?$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

const ENV_NAME = /^[A-Za-z0-9._-]+$/;

class Build {
  constructor(
    private readonly request: BuildEnvRequest,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  progress(event: EnvProgress): void {
    try {
      this.request.onProgress?.(event);
    } catch {
      // A progress consumer's bug must not fail the build.
    }
  }

  async run(
    argv: string[],
    phase: EnvProgress['phase'],
    what: string,
    fraction?: [number, number],
  ): Promise<void> {
    this.checkAborted();
    let lines = 0;
    // The whole output, kept for the error (bounded: the oldest lines go first).
    const log: string[] = [];
    let logBytes = 0;
    let result: Awaited<ReturnType<typeof runCommand>>;
    try {
      result = await runCommand(argv, {
        env: this.env,
        ...(this.request.signal ? { signal: this.request.signal } : {}),
        onLine: (line) => {
          lines += 1;
          log.push(line);
          logBytes += line.length + 1;
          while (logBytes > MAX_BUILD_LOG_BYTES && log.length > 1)
            logBytes -= (log.shift() ?? '').length + 1;
          const event: EnvProgress = { phase, message: line.slice(0, 500) };
          if (fraction)
            event.fraction = fraction[0] + (fraction[1] - fraction[0]) * (1 - 1 / (1 + lines / 4));
          this.progress(event);
        },
      });
    } catch (error) {
      this.checkAborted();
      throw new KernelError('env_build_failed', `${what} could not be started`, { cause: error });
    }
    if (result.code !== 0) {
      throw new KernelError('env_build_failed', `${what} failed (exit code ${result.code})`, {
        details: {
          exitCode: result.code,
          signal: result.signal,
          stderrTail: result.stderrTail,
          log,
        },
      });
    }
  }

  checkAborted(): void {
    if (this.request.signal?.aborted)
      throw new KernelError('env_build_aborted', 'The environment build was aborted');
  }

  async verify(python: string): Promise<void> {
    this.progress({ phase: 'verify', message: 'Checking that ipykernel imports', fraction: 0.95 });
    this.checkAborted();
    const result = await runCommand([python, '-c', 'import ipykernel'], {
      env: this.env,
      ...(this.request.signal ? { signal: this.request.signal } : {}),
    }).catch((error: unknown) => {
      this.checkAborted();
      throw new KernelError(
        'env_build_failed',
        'The environment interpreter could not be started',
        { cause: error },
      );
    });
    if (result.code !== 0) {
      throw new KernelError('missing_ipykernel', 'The built environment cannot import ipykernel', {
        details: { exitCode: result.code, stderrTail: result.stderrTail },
      });
    }
  }
}

/**
 * Dependencies and channels end up in a tool's argv. A caller-supplied `--index-url=...` or
 * `-r/etc/x` would be read as an option, so each one must parse in its ecosystem's grammar
 * (env-detection's `parseRequirement` / `parseCondaSpec` / `parseChannel`) and none may start
 * with `-`. Messages name the position, not the value.
 */
export function checkBuildDependencies(
  ecosystem: 'pypi' | 'conda',
  dependencies: readonly unknown[] = [],
  channels: readonly unknown[] = [],
): string[] {
  if (!Array.isArray(dependencies) || !Array.isArray(channels))
    throw new KernelError('invalid_dependency', 'Dependencies and channels must be lists');
  const out: string[] = [];
  dependencies.forEach((dependency, index) => {
    if (typeof dependency !== 'string' || dependency.trim().startsWith('-')) {
      throw new KernelError(
        'invalid_dependency',
        `Dependency ${index + 1} is not a package requirement (options are not accepted)`,
      );
    }
    try {
      if (ecosystem === 'pypi') parseRequirement(dependency);
      else parseCondaSpec(dependency);
    } catch (error) {
      throw new KernelError(
        'invalid_dependency',
        `Dependency ${index + 1} is not a valid ${ecosystem === 'pypi' ? 'PEP 508 requirement' : 'conda package spec'}`,
        { cause: error },
      );
    }
    out.push(dependency.trim());
  });
  channels.forEach((channel, index) => {
    if (typeof channel !== 'string' || channel.trim().startsWith('-')) {
      throw new KernelError('invalid_dependency', `Channel ${index + 1} is not a conda channel`);
    }
    try {
      parseChannel(channel);
    } catch (error) {
      throw new KernelError('invalid_dependency', `Channel ${index + 1} is not a conda channel`, {
        cause: error,
      });
    }
  });
  return out;
}

function pipArgs(wheelhouse: Wheelhouse | undefined): string[] {
  if (!wheelhouse) return [];
  const args = wheelhouse.noIndex === false ? [] : ['--no-index'];
  for (const dir of wheelhouse.findLinks) args.push('--find-links', dir);
  return args;
}

/**
 * Creates a builder for one manager. Builders stream progress, honour the abort signal, remove
 * what they created on failure, and finish by proving the interpreter imports ipykernel.
 */
export function createEnvBuilder(options: EnvBuilderOptions): EnvBuilder {
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  // pip must never stop to ask a question; that would hang a headless build.
  const toolEnv: NodeJS.ProcessEnv = {
    ...env,
    PIP_NO_INPUT: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
  };

  async function inherits(): Promise<boolean> {
    const isolation = options.isolation ?? 'auto';
    if (isolation !== 'auto') return isolation === 'inherit';
    if (options.baseHasIpykernel !== undefined) return options.baseHasIpykernel;
    return options.basePython ? pythonHasIpykernel(options.basePython, env) : false;
  }

  function requireBase(): string {
    if (!options.basePython)
      throw new KernelError('python_not_found', 'No base interpreter was given');
    return options.basePython;
  }

  async function guarded(
    request: BuildEnvRequest,
    body: (build: Build) => Promise<BuiltEnv>,
  ): Promise<BuiltEnv> {
    const build = new Build(request, toolEnv);
    build.checkAborted();
    if (existsSync(request.prefix)) {
      throw new KernelError('env_build_failed', 'The environment directory already exists');
    }
    try {
      const built = await body(build);
      build.progress({ phase: 'done', message: 'Environment ready', fraction: 1 });
      return built;
    } catch (error) {
      rmSync(request.prefix, { recursive: true, force: true });
      if (request.signal?.aborted)
        throw new KernelError('env_build_aborted', 'The environment build was aborted');
      throw error;
    }
  }

  if (options.kind === 'venv') {
    return {
      kind: 'venv',
      get tool() {
        return options.basePython ?? 'python3';
      },
      build: (request) =>
        guarded(request, async (build) => {
          const deps = checkBuildDependencies('pypi', request.dependencies);
          const base = requireBase();
          const inherit = await inherits();
          const systemSite = options.systemSitePackages ?? inherit;
          const withoutPip = options.withoutPip ?? inherit;
          if (!inherit) deps.unshift('ipykernel');
          build.progress({
            phase: 'create',
            message: 'Creating virtual environment',
            fraction: 0.05,
          });
          const argv = [base, '-m', 'venv'];
          if (systemSite) argv.push('--system-site-packages');
          if (withoutPip) argv.push('--without-pip');
          await build.run([...argv, request.prefix], 'create', 'python -m venv', [0.05, 0.2]);
          const python = interpreterPath(request.prefix);
          if (deps.length > 0) {
            build.progress({
              phase: 'install',
              message: `Installing ${deps.length} package(s)`,
              fraction: 0.2,
            });
            // pip skips requirements that are already satisfied (including inherited ones).
            await build.run(
              // `--` ends options: nothing after it can be read as one.
              [python, '-m', 'pip', 'install', ...pipArgs(options.wheelhouse), '--', ...deps],
              'install',
              'pip install',
              [0.2, 0.9],
            );
          }
          await build.verify(python);
          return {
            prefix: request.prefix,
            python,
            manager: 'venv',
            tool: base,
            inheritsBase: systemSite,
          };
        }),
    };
  }

  if (options.kind === 'uv') {
    const uv = which('uv', env);
    if (!uv) throw new KernelError('env_manager_unavailable', 'uv is not on PATH');
    return {
      kind: 'uv',
      tool: uv,
      build: (request) =>
        guarded(request, async (build) => {
          const deps = checkBuildDependencies('pypi', request.dependencies);
          const base = requireBase();
          const inherit = await inherits();
          if (!inherit) deps.unshift('ipykernel');
          build.progress({ phase: 'create', message: 'Creating uv environment', fraction: 0.05 });
          const argv = [uv, 'venv', '--python', base];
          if (options.systemSitePackages ?? inherit) argv.push('--system-site-packages');
          await build.run([...argv, request.prefix], 'create', 'uv venv', [0.05, 0.2]);
          const python = interpreterPath(request.prefix);
          if (deps.length > 0) {
            const install = [uv, 'pip', 'install', '--python', python];
            if (options.wheelhouse) {
              if (options.wheelhouse.noIndex !== false) install.push('--offline', '--no-index');
              for (const dir of options.wheelhouse.findLinks) install.push('--find-links', dir);
            }
            build.progress({
              phase: 'install',
              message: `Installing ${deps.length} package(s)`,
              fraction: 0.2,
            });
            await build.run([...install, '--', ...deps], 'install', 'uv pip install', [0.2, 0.9]);
          }
          await build.verify(python);
          return { prefix: request.prefix, python, manager: 'uv', tool: uv, inheritsBase: inherit };
        }),
    };
  }

  const condaTool = findCondaTool(env, options.condaTools);
  return {
    kind: 'conda',
    tool: condaTool?.path ?? 'conda',
    async build(request) {
      if (request.environmentYml) return useNamedCondaEnv(request);
      const requested = checkBuildDependencies(
        'conda',
        request.dependencies,
        request.channels ?? [],
      );
      const pypi = checkBuildDependencies('pypi', request.pypiDependencies ?? []);
      if (!condaTool) {
        const tools = options.condaTools ?? ['micromamba', 'mamba', 'conda', 'pixi'];
        const named =
          tools.length === 1 ? tools[0] : `${tools.slice(0, -1).join(', ')} or ${tools.at(-1)}`;
        throw new KernelError('env_manager_unavailable', `No ${named} on PATH`);
      }
      return guarded(request, async (build) => {
        const deps = ['python', 'ipykernel', ...requested];
        const channels = (request.channels ?? ['conda-forge']).map((channel) => channel.trim());
        let python: string;
        if (condaTool.tool === 'pixi') {
          // pixi has no `create -p`: a manifest in the prefix owns the env at .pixi/envs/default.
          mkdirSync(request.prefix, { recursive: true });
          const manifest = join(request.prefix, 'pixi.toml');
          build.progress({ phase: 'create', message: 'Creating pixi project', fraction: 0.05 });
          writeFileSync(
            manifest,
            `[workspace]\nname = "runyard-env"\nchannels = ${JSON.stringify(channels)}\nplatforms = []\n\n[dependencies]\n`,
          );
          await build.run(
            [
              condaTool.path,
              'project',
              'platform',
              'add',
              '--manifest-path',
              manifest,
              pixiPlatform(),
            ],
            'create',
            'pixi project platform add',
          );
          await build.run(
            [condaTool.path, 'add', '--manifest-path', manifest, ...deps],
            'install',
            'pixi add',
            [0.1, 0.9],
          );
          if (pypi.length > 0) {
            await build.run(
              [condaTool.path, 'add', '--manifest-path', manifest, '--pypi', ...pypi],
              'install',
              'pixi add --pypi',
              [0.9, 0.95],
            );
          }
          python = interpreterPath(join(request.prefix, '.pixi', 'envs', 'default'));
        } else {
          build.progress({
            phase: 'create',
            message: `Creating environment with ${condaTool.tool}`,
            fraction: 0.05,
          });
          const argv = [condaTool.path, 'create', '-y', '-p', request.prefix];
          for (const channel of channels) argv.push('-c', channel);
          await build.run([...argv, ...deps], 'install', `${condaTool.tool} create`, [0.05, 0.9]);
          python = interpreterPath(request.prefix);
          if (pypi.length > 0) {
            // `--` ends options: nothing after it can be read as one.
            await build.run(
              [python, '-m', 'pip', 'install', ...pipArgs(options.wheelhouse), '--', ...pypi],
              'install',
              'pip install',
              [0.9, 0.95],
            );
          }
        }
        await build.verify(python);
        return {
          prefix: request.prefix,
          python,
          manager: 'conda',
          tool: condaTool.path,
          inheritsBase: false,
        };
      });
    },
  };

  async function useNamedCondaEnv(request: BuildEnvRequest): Promise<BuiltEnv> {
    const build = new Build(request, toolEnv);
    build.checkAborted();
    const file = request.environmentYml as string;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new KernelError('conda_env_yml_missing', 'The environment.yml file does not exist');
    }
    const name = environmentYmlName(text);
    if (!name || !ENV_NAME.test(name)) {
      throw new KernelError(
        'conda_env_yml_missing',
        'The environment.yml does not name a valid environment',
      );
    }
    const dirs = options.condaEnvsDirs ?? defaultCondaEnvsDirs(env, home);
    const prefix = dirs
      .map((dir) => join(dir, name))
      .find((candidate) => existsSync(interpreterPath(candidate)));
    if (!prefix) {
      const create = condaTool
        ? `${condaTool.tool} env create -f environment.yml`
        : 'conda env create -f environment.yml';
      throw new KernelError(
        'conda_env_yml_missing',
        `The conda environment '${name}' does not exist; create it with \`${create}\``,
      );
    }
    build.progress({
      phase: 'prepare',
      message: `Using existing environment '${name}'`,
      fraction: 0.5,
    });
    const python = interpreterPath(prefix);
    await build.verify(python);
    build.progress({ phase: 'done', message: 'Environment ready', fraction: 1 });
    return {
      prefix,
      python,
      manager: 'conda',
      tool: condaTool?.path ?? 'conda',
      inheritsBase: false,
    };
  }
}

function pixiPlatform(): string {
  const os = process.platform === 'darwin' ? 'osx' : process.platform === 'win32' ? 'win' : 'linux';
  const arch = process.arch === 'arm64' ? (os === 'linux' ? 'aarch64' : 'arm64') : '64';
  return `${os}-${arch}`;
}
