import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

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
  logLevel: LogLevel.default('info'),
  logFormat: z.enum(['auto', 'pretty', 'json']).default('auto'),
  kernelPool: z.coerce.number().int().min(0).max(32).default(1),
  envPool: z.coerce.number().int().min(0).max(32).default(2),
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
  /** An explicit `--config` file; otherwise runyard.config.{json,yaml,yml} in the workspace. */
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

function findConfigFile(workspace: string): string | undefined {
  for (const name of ['runyard.config.json', 'runyard.config.yaml', 'runyard.config.yml']) {
    const file = join(workspace, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

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
  const configFile = sources.configFile
    ? resolve(cwd, sources.configFile)
    : findConfigFile(workspace);
  const fromFile = configFile ? readConfigFile(configFile) : {};

  const xdg = (name: string, fallback: string) =>
    join(env[name] || join(home, fallback), 'runyard');
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
    'Precedence: flags, then environment variables, then runyard.config.{json,yaml} in the',
    'workspace (or --config <file>), then defaults.',
    '',
    'Options:',
    ...lines,
    `  ${'--config <file>'.padEnd(26)} configuration file (JSON or YAML) with the same keys`,
    `  ${'-h, --help'.padEnd(26)} show this help`,
  ].join('\n');
}
