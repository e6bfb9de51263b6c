import { join } from 'node:path';
import { createEnvCache, type EnvBuilder, KernelError } from '@runyard/kernels';
import {
  type CliIo,
  ExitCode,
  parseCommand,
  printHelp,
  printJson,
  println,
  UsageError,
} from './common.js';

export const ENV_HELP = `Usage: runyard env ls [--json]
       runyard env gc [--max-age-days <n>] [--max-count <n>] [--json]

Lists or garbage-collects the cached environments the runtime built: venvs in
<cache-dir>/envs and conda envs in <cache-dir>/conda/envs. Run gc while no server uses the
cache dir: an env a running kernel uses could be collected.`;

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
  if (values.help || sub === undefined) return printHelp(io, ENV_HELP, Boolean(values.help));
  if (extra.length > 0) throw new UsageError(`env ${sub} takes no arguments`);
  const { cacheDir } = config();
  // The same two caches the embedded runtime builds into.
  const caches = [cacheDir, join(cacheDir, 'conda')].map((dir) =>
    createEnvCache({ cacheDir: dir, builder: noBuilder }),
  );
  if (sub === 'ls') {
    const envs = caches
      .flatMap((cache) => cache.list())
      .map((entry) => ({
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
    const removed = caches.flatMap((cache) =>
      cache.gc({ maxAgeDays, ...(maxCount !== undefined ? { maxCount } : {}) }),
    );
    if (values.json) printJson(io, { removed });
    else println(io.stdout, `removed ${removed.length} environment(s)`);
    return ExitCode.ok;
  }
  throw new UsageError(`unknown env command: ${sub}`);
}
