import { mkdirSync } from 'node:fs';
import { createRuntime } from '@runyard/embedded-runtime';
import { loadOrCreateToken } from '@runyard/http';
import { startRuntimeServer } from '@runyard/runtime-registry/server';
import { lockDataDir } from '../lock.js';
import { describePython, resolvePython } from '../python.js';
import { runtimeOptionsFor } from '../runtimes.js';
import { type CliIo, ExitCode, parseCommand, printHelp, println, UsageError } from './common.js';
import { withholdSecrets } from './secrets.js';
import { waitForSignal } from './signals.js';

export const RUNTIME_HELP = `Usage: runyard runtime serve [serve options] [--id <id>]

Runs a standalone runtime server (the /v1 API: notebooks, kernels, config bundles, workers)
that a workspace server registers with POST /api/runtimes { id, url, token }.
It takes the "runyard serve" options (--host, --port, --workspace, --data-dir, --cache-dir,
--config-dir, --python, --wheelhouse, --kernel-pool, --env-pool, --token, --allowed-origin, --allowed-host).
The token is --token / RUNYARD_TOKEN, else RUNYARD_RUNTIME_TOKEN, else one generated into
<data-dir>/token. Give it its own --data-dir: one runtime process owns a data dir at a time.
  --id <id>   the id GET /v1/runtime reports (default: standalone)
Its port defaults to 8790 (not the workspace server's 8787), so both can run with defaults.`;

/** The standalone runtime's default port, next to the workspace server's 8787. */
export const RUNTIME_DEFAULT_PORT = 8790;

function port(flag: unknown, env: string | undefined, configured: number): number {
  return flag === undefined && (env === undefined || env === '')
    ? RUNTIME_DEFAULT_PORT
    : configured;
}

export async function runtimeCommand(cliIo: CliIo, args: string[]): Promise<number> {
  const { io } = withholdSecrets(cliIo);
  const { values, positionals, config } = parseCommand(io, args, { id: { type: 'string' } });
  const [sub, ...extra] = positionals;
  if (values.help || sub === undefined) return printHelp(io, RUNTIME_HELP, Boolean(values.help));
  if (sub !== 'serve' || extra.length > 0)
    throw new UsageError(`unknown runtime command: ${positionals.join(' ')}`);
  const settings = config();
  const id = typeof values.id === 'string' && values.id !== '' ? values.id : 'standalone';
  const token = loadOrCreateToken({
    dataDir: settings.dataDir,
    token: settings.token ?? io.env.RUNYARD_RUNTIME_TOKEN,
  });
  const python = await resolvePython({ configured: settings.python, env: io.env });
  mkdirSync(settings.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(settings.dataDir);
  let runtime: Awaited<ReturnType<typeof createRuntime>>;
  try {
    runtime = await createRuntime(
      runtimeOptionsFor(settings, python, io.env, {
        id,
        redactValues: { RUNYARD_RUNTIME_API_TOKEN: token.token },
      }),
    );
  } catch (error) {
    unlock();
    throw error;
  }
  let server: Awaited<ReturnType<typeof startRuntimeServer>>;
  try {
    server = await startRuntimeServer({
      api: runtime,
      host: settings.host,
      port: port(values.port, io.env.RUNYARD_PORT, settings.port),
      token: token.token,
      allowedOrigins: settings.allowedOrigins,
      allowedHosts: settings.allowedHosts,
    });
  } catch (error) {
    await runtime.close();
    unlock();
    throw error;
  }
  // Before announcing readiness: see serveCommand.
  const signalled = waitForSignal();
  println(io.stdout, `Runyard runtime listening on ${server.url}`);
  println(
    io.stdout,
    token.source === 'configured'
      ? 'Runtime token: the one you configured (RUNYARD_TOKEN, --token or RUNYARD_RUNTIME_TOKEN).'
      : `Runtime token: cat ${token.file}`,
  );
  println(python.hasIpykernel ? io.stdout : io.stderr, describePython(python));
  const signal = await signalled;
  println(io.stderr, `Received ${signal}: stopping kernels and workers...`);
  await server.close();
  await runtime.close();
  unlock();
  return ExitCode.ok;
}
