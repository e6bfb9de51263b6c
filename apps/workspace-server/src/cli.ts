import { parseArgs } from 'node:util';
import {
  ConfigError,
  loadServeConfig,
  SERVE_OPTIONS,
  type ServeOptionKey,
  serveHelp,
} from './config.js';
import { startWorkspaceServer } from './server.js';

/** Documented exit codes. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, blockedOnTrust: 3 } as const;

const USAGE = `Usage: runyard <command> [options]

Commands:
  serve          start the workspace server (default)

Run "runyard <command> --help" for a command's options.`;

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(
        SERVE_OPTIONS.map((option) => [
          option.flag,
          { type: 'string' as const, multiple: option.key === 'allowedOrigins' },
        ]),
      ),
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(serveHelp());
    return ExitCode.ok;
  }
  const flags: Partial<Record<ServeOptionKey, string | string[]>> = {};
  for (const option of SERVE_OPTIONS) {
    const value = (values as Record<string, unknown>)[option.flag];
    if (typeof value === 'string' || Array.isArray(value))
      flags[option.key] = value as string | string[];
  }
  const config = loadServeConfig({
    flags,
    env: process.env,
    cwd: process.cwd(),
    ...(typeof values.config === 'string' ? { configFile: values.config } : {}),
  });
  const server = await startWorkspaceServer(config);
  console.log(`Runyard listening on ${server.url}`);
  if (server.token.source === 'configured') {
    console.log('API token: the one you configured (RUNYARD_TOKEN or --token).');
  } else {
    console.log(`API token: cat ${server.token.file}`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('Shutting down: stopping kernels and workers...');
  await server.close();
  return ExitCode.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = command === first ? rest : argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(args);
      case 'help':
        console.log(USAGE);
        return ExitCode.ok;
      default:
        console.error(`unknown command: ${command}\n\n${USAGE}`);
        return ExitCode.usage;
    }
  } catch (error) {
    if (
      error instanceof ConfigError ||
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      console.error(`runyard: ${(error as Error).message}`);
      return ExitCode.usage;
    }
    console.error(`runyard: ${(error as Error).message}`);
    return ExitCode.failure;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
