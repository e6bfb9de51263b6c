import { createEnvCache, type EnvBuilder, KernelError } from '@runyard/kernels';
import { type CliIo, ExitCode, parseCommand, printJson, println, UsageError } from './common.js';

export const ENV_HELP = `Usage: runyard env ls [--json]
       runyard env gc [--max-age-days <n>] [--max-count <n>] [--json]

Lists or garbage-collects the cached environments in <cache-dir>/envs.`;

/** Listing and collecting never build: a builder that refuses keeps it that way. */
const noBuilder: EnvBuilder = {
  kind: 'venv',
  tool: 'none',
  build: async () => {
    throw new KernelError('env_manager_unavailable', 'the env commands never build');
  },
};

function positiveInt(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new UsageError(`${flag} must be a whole number`);
  return number;
}

export async function envCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals, config } = parseCommand(io, args, {
    json: { type: 'boolean' },
    'max-age-days': { type: 'string' },
    'max-count': { type: 'string' },
  });
  const [sub, ...extra] = positionals;
  if (values.help || sub === undefined) {
    println(values.help ? io.stdout : io.stderr, ENV_HELP);
    return values.help ? ExitCode.ok : ExitCode.usage;
  }
  if (extra.length > 0) throw new UsageError(`env ${sub} takes no arguments`);
  const cache = createEnvCache({ cacheDir: config().cacheDir, builder: noBuilder });
  if (sub === 'ls') {
    const envs = cache.list().map((entry) => ({
      envHash: entry.envHash,
      manager: entry.manager,
      createdAt: new Date(entry.createdAt).toISOString(),
      lastUsedAt: new Date(entry.lastUsedAt).toISOString(),
    }));
    if (values.json) printJson(io, { envs });
    else if (envs.length === 0) println(io.stdout, 'no cached environments');
    else
      for (const env of envs)
        println(io.stdout, `${env.envHash}  ${env.manager.padEnd(6)} last used ${env.lastUsedAt}`);
    return ExitCode.ok;
  }
  if (sub === 'gc') {
    const maxAgeDays = positiveInt(values['max-age-days'], '--max-age-days') ?? 30;
    const maxCount = positiveInt(values['max-count'], '--max-count');
    const removed = cache.gc({ maxAgeDays, ...(maxCount !== undefined ? { maxCount } : {}) });
    if (values.json) printJson(io, { removed });
    else println(io.stdout, `removed ${removed.length} environment(s)`);
    return ExitCode.ok;
  }
  throw new UsageError(`unknown env command: ${sub}`);
}
