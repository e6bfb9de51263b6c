import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseRuntimeUrlPattern } from './runtime-urls.js';

/**
 * Every `runyard serve` setting, in one table: the flag, the environment variable, the config
 * file key, the default and the help text all come from here, so `--help` cannot drift from
 * what is parsed.
 */
export const SERVE_OPTIONS = [
  {
    key: 'host',
    flag: 'host',
    env: 'RUNYARD_HOST',
    help: 'interface to listen on',
    default: '127.0.0.1',
  },
  {
    key: 'port',
    flag: 'port',
    env: 'RUNYARD_PORT',
    help: 'port to listen on (0 picks a free port)',
    default: '8787',
  },
  {
    key: 'workspace',
    flag: 'workspace',
    env: 'RUNYARD_WORKSPACE',
    help: "the notebooks' root",
    default: 'the current directory',
  },
  {
    key: 'dataDir',
    flag: 'data-dir',
    env: 'RUNYARD_DATA_DIR',
    help: 'SQLite database and API token',
    default: '$XDG_DATA_HOME/runyard',
  },
  {
    key: 'cacheDir',
    flag: 'cache-dir',
    env: 'RUNYARD_CACHE_DIR',
    help: 'environments and pools',
    default: '$XDG_CACHE_HOME/runyard',
  },
  {
    key: 'configDir',
    flag: 'config-dir',
    env: 'RUNYARD_CONFIG_DIR',
    help: 'trust key and proxy CA',
    default: '$XDG_CONFIG_HOME/runyard',
  },
  {
    key: 'token',
    flag: 'token',
    env: 'RUNYARD_TOKEN',
    help: 'API token (default: generated into <data-dir>/token)',
    default: undefined,
  },
  {
    key: 'python',
    flag: 'python',
    env: 'RUNYARD_PYTHON',
    help: 'base Python interpreter for kernels',
    default: 'first one with ipykernel',
  },
  {
    key: 'allowedOrigins',
    flag: 'allowed-origin',
    env: 'RUNYARD_ALLOWED_ORIGINS',
    help: 'extra Origin allowed for WebSocket upgrades (repeatable; env: comma-separated)',
    default: 'same host only',
    multiple: true,
  },
  {
    key: 'runtimeUrls',
    flag: 'runtime-url',
    env: 'RUNYARD_RUNTIME_URLS',
    help: 'remote runtime URL pattern POST /api/runtimes accepts, scheme://host[:port|:*][/path] or * (repeatable; env: comma-separated)',
    default: 'anything on a loopback --host, nothing otherwise',
    multiple: true,
  },
  {
    key: 'allowedHosts',
    flag: 'allowed-host',
    env: 'RUNYARD_ALLOWED_HOSTS',
    help: 'extra Host name requests may use, e.g. of a public URL (repeatable; env: comma-separated; * for any)',
    default: 'the --host address, localhost, 127.0.0.1, [::1]',
    multiple: true,
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'RUNYARD_LOG_LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent',
    default: 'info',
  },
  {
    key: 'logFormat',
    flag: 'log-format',
    env: 'RUNYARD_LOG_FORMAT',
    help: 'auto|pretty|json: log lines for a person or JSON lines (auto: pretty when stderr is a terminal)',
    default: 'auto',
  },
  {
    key: 'kernelPool',
    flag: 'kernel-pool',
    env: 'RUNYARD_KERNEL_POOL',
    help: 'prewarmed running kernels',
    default: '1',
  },
  {
    key: 'envPool',
    flag: 'env-pool',
    env: 'RUNYARD_ENV_POOL',
    help: 'prewarmed environments per manager',
    default: '2',
  },
  {
    key: 'outputBudget',
    flag: 'output-budget',
    env: 'RUNYARD_OUTPUT_BUDGET',
    help: 'bytes of output one execution keeps; the rest is dropped with a marker saying how much',
    default: '10485760 (10 MiB)',
  },
  {
    key: 'maxKernels',
    flag: 'max-kernels',
    env: 'RUNYARD_MAX_KERNELS',
    help: 'notebook kernels running at once; more are refused with 429 too_many_kernels',
    default: '32',
  },
  {
    key: 'wheelhouse',
    flag: 'wheelhouse',
    env: 'RUNYARD_WHEELHOUSE',
    help: 'directory of wheels used instead of a package index (offline installs)',
    default: 'none (the package index)',
  },
  {
    key: 'sandbox',
    flag: 'sandbox',
    env: 'RUNYARD_SANDBOX',
    help: 'off|auto|required: run kernels and command workers in bubblewrap (required fails to start without it)',
    default: 'auto',
  },
  {
    key: 'bwrap',
    flag: 'bwrap',
    env: 'RUNYARD_BWRAP',
    help: 'path of the bubblewrap binary',
    default: 'bwrap on PATH',
  },
  {
    key: 'skillsManifests',
    flag: 'skills-manifest',
    env: 'RUNYARD_SKILLS_MANIFESTS',
    help: 'managed-skills manifest URL or file (repeatable; env: comma-separated)',
    default: 'none (the reconciler does not run)',
    multiple: true,
  },
  {
    key: 'skillsPolicy',
    flag: 'skills-policy',
    env: 'RUNYARD_SKILLS_POLICY',
    help: 'user-choice|force-on|force-off (force-off stops the skills reconciler)',
    default: 'user-choice',
  },
  {
    key: 'skillsRoot',
    flag: 'skills-root',
    env: 'RUNYARD_SKILLS_ROOT',
    help: "the user's skills folder",
    default: '~/.claude/skills',
  },
] as const;

/** Options that may be given several times (the environment variable is comma-separated). */
export function isMultiple(option: (typeof SERVE_OPTIONS)[number]): boolean {
  return 'multiple' in option && option.multiple === true;
}

export type ServeOptionKey = (typeof SERVE_OPTIONS)[number]['key'];

const DestinationSchema = z.strictObject({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).optional(),
  pathPrefix: z.string().startsWith('/').max(2048).optional(),
  scheme: z.enum(['https', 'http']).optional(),
});

const GrantsSchema = z.strictObject({
  network: z
    .record(
      z.string().min(1).max(128),
      z.strictObject({
        destinations: z.array(DestinationSchema).max(64),
        secrets: z.array(z.string().min(1).max(256)).max(64).optional(),
      }),
    )
    .optional(),
  mounts: z
    .record(
      z.string().min(1).max(128),
      z.strictObject({ path: z.string().min(1).max(4096), readOnly: z.boolean().optional() }),
    )
    .optional(),
});

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const ServeConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8787),
  workspace: z.string().min(1),
  dataDir: z.string().min(1),
  cacheDir: z.string().min(1),
  configDir: z.string().min(1),
  token: z.string().min(16, 'a configured token must be at least 16 characters').optional(),
  python: z.string().min(1).optional(),
  allowedOrigins: z.array(z.string().min(1)).default([]),
  /** Remote runtime URL patterns (runtime-urls.ts); unset: anything on a loopback bind only. */
  runtimeUrls: z.array(z.string().min(1).max(2048)).max(256).optional(),
  allowedHosts: z.array(z.string().min(1).max(253)).default([]),
  logLevel: LogLevel.default('info'),
  logFormat: z.enum(['auto', 'pretty', 'json']).default('auto'),
  kernelPool: z.coerce.number().int().min(0).max(32).default(1),
  envPool: z.coerce.number().int().min(0).max(32).default(2),
  outputBudget: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  maxKernels: z.coerce.number().int().min(1).max(1024).default(32),
  wheelhouse: z.string().min(1).optional(),
  sandbox: z.enum(['off', 'auto', 'required']).default('auto'),
  bwrap: z.string().min(1).optional(),
  /** How this host resolves `network:` and `mount:` references (config file only). */
  grants: GrantsSchema.optional(),
  skillsManifests: z.array(z.string().min(1).max(4096)).max(64).default([]),
  // Kept as text: the skills package parses it, and an unknown value must fail closed there.
  skillsPolicy: z.string().max(64).optional(),
  skillsRoot: z.string().min(1),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;

/** The config file accepts the same keys (all optional). */
const ConfigFileSchema = ServeConfigSchema.partial();

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

export interface ConfigSources {
  /** Parsed flags, keyed by option key. */
  flags: Partial<Record<ServeOptionKey, string | string[]>>;
  env: Record<string, string | undefined>;
  cwd: string;
  home?: string;
  /**
   * An explicit `--config` file; otherwise `config.{json,yaml,yml}` in the config dir (from the
   * flags, the environment or the default — never from a file). Never the workspace: kernels
   * and workers write there.
   */
  configFile?: string;
}

function readConfigFile(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  if (text.length > 1024 * 1024) throw new ConfigError('config file is larger than 1 MiB');
  let value: unknown;
  try {
    value = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      `config file is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  const parsed = ConfigFileSchema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new ConfigError(`config file: ${formatIssues(parsed.error)}`);
  }
  return parsed.data;
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** The config dir's own config file, if there is one. */
function findConfigFile(configDir: string): string | undefined {
  for (const name of ['config.json', 'config.yaml', 'config.yml']) {
    const file = join(configDir, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

// Kept here rather than imported from @runyard/embedded-runtime (whose paths.ts has the same walk):
// every `runyard` command loads this config module, and the runtime's root entry costs ~0.4 s of
// CPU at import (the kernels, SQLite, the registry), which `runyard detect` must not pay.

/** Real path of `path`, or of its deepest existing ancestor plus the rest (nothing resolved). */
function realpathLoose(path: string): string {
  const rest: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(realpathSync(current), ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      rest.push(basename(current));
      current = parent;
    }
  }
}

/** Whether `path` is `dir` or below it, both compared by their real paths. */
export function isInsideDir(path: string, dir: string): boolean {
  const rel = relative(realpathLoose(dir), realpathLoose(path));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Settings that name a program or a file the server runs, probes or installs from: one inside
 * the workspace is one a kernel can replace (sandboxed kernels have the workspace read-write),
 * so it is refused rather than run as the server's user.
 */
const PROGRAM_KEYS = ['python', 'wheelhouse', 'bwrap'] as const;

/** Flags beat environment variables, which beat the config file, which beats the defaults. */
export function loadServeConfig(sources: ConfigSources): ServeConfig {
  const { env, cwd } = sources;
  const home = sources.home ?? homedir();
  const fromEnv: Record<string, unknown> = {};
  const fromFlags: Record<string, unknown> = {};
  for (const option of SERVE_OPTIONS) {
    const envValue = env[option.env];
    if (envValue !== undefined && envValue !== '') {
      fromEnv[option.key] = isMultiple(option)
        ? envValue
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : envValue;
    }
    const flagValue = sources.flags[option.key];
    if (flagValue !== undefined) fromFlags[option.key] = flagValue;
  }
  const workspace = resolve(cwd, String(fromFlags.workspace ?? fromEnv.workspace ?? '.'));
  const xdg = (name: string, fallback: string) =>
    join(env[name] || join(home, fallback), 'runyard');
  // The config file is looked for in the config dir named by flags, env or the default; a
  // `configDir` inside that file still moves the trust key, but not where the file is read.
  const configFile = sources.configFile
    ? resolve(cwd, sources.configFile)
    : findConfigFile(
        resolve(
          cwd,
          String(fromFlags.configDir ?? fromEnv.configDir ?? xdg('XDG_CONFIG_HOME', '.config')),
        ),
      );
  if (configFile && isInsideDir(configFile, workspace)) {
    throw new ConfigError(
      'the config file is inside the workspace, where kernels and workers can rewrite it; keep it in the config dir or pass --config with a file outside the workspace',
    );
  }
  const fromFile = configFile ? readConfigFile(configFile) : {};

  const merged = {
    dataDir: xdg('XDG_DATA_HOME', '.local/share'),
    cacheDir: xdg('XDG_CACHE_HOME', '.cache'),
    configDir: xdg('XDG_CONFIG_HOME', '.config'),
    skillsRoot: join(home, '.claude', 'skills'),
    ...fromFile,
    ...fromEnv,
    ...fromFlags,
    workspace,
  };
  const parsed = ServeConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error));
  const config = parsed.data;
  for (const key of ['dataDir', 'cacheDir', 'configDir', 'skillsRoot'] as const)
    config[key] = resolve(cwd, config[key]);
  if (config.wheelhouse !== undefined) config.wheelhouse = resolve(cwd, config.wheelhouse);
  if (config.bwrap?.includes('/')) config.bwrap = resolve(cwd, config.bwrap);
  for (const mount of Object.values(config.grants?.mounts ?? {}))
    mount.path = resolve(cwd, mount.path);
  for (const pattern of config.runtimeUrls ?? []) {
    try {
      parseRuntimeUrlPattern(pattern);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  for (const key of PROGRAM_KEYS) {
    const value = config[key];
    // A bare name is looked up on PATH like a shell would, not in the workspace.
    if (value === undefined || (key !== 'wheelhouse' && !value.includes('/'))) continue;
    if (isInsideDir(resolve(cwd, value), workspace)) {
      throw new ConfigError(
        `${key} is inside the workspace, where kernels and workers can replace it; use one outside the workspace`,
      );
    }
  }
  return config;
}

export function serveHelp(): string {
  const lines = SERVE_OPTIONS.map((option) => {
    const flag = `--${option.flag} <value>`.padEnd(26);
    const def = option.default === undefined ? '' : ` (default: ${option.default})`;
    return `  ${flag} ${option.help}${def}\n  ${''.padEnd(26)} env: ${option.env}`;
  });
  return [
    'Usage: runyard serve [options]',
    '',
    'Starts the workspace server: REST + WebSocket + MCP with an embedded runtime.',
    'Precedence: flags, then environment variables, then the config file (--config <file>, else',
    'config.{json,yaml,yml} in the config dir; never one inside the workspace), then defaults.',
    '',
    'Options:',
    ...lines,
    `  ${'--config <file>'.padEnd(26)} configuration file (JSON or YAML) with the same keys`,
    `  ${'-h, --help'.padEnd(26)} show this help`,
  ].join('\n');
}
