#!/usr/bin/env node
// `runyard-runtime serve`: the runtime as a standalone /v1 server a workspace server drives.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startRuntimeServer } from '@runyard/runtime-registry/server';
import { createRuntime } from './runtime.js';

const USAGE = `Usage: runyard-runtime serve --token <token> --workspace <dir> [options]

  --host <host>         interface to listen on (default 127.0.0.1)
  --port <port>         port, 0 picks a free one (default 0)
  --token <token>       bearer token callers must send (or RUNYARD_RUNTIME_TOKEN)
  --workspace <dir>     notebooks and workers are confined to this directory
  --data-dir <dir>      SQLite and kernel files (default $RUNYARD_DATA_DIR or $XDG_DATA_HOME/runyard)
  --cache-dir <dir>     environments (default $RUNYARD_CACHE_DIR or $XDG_CACHE_HOME/runyard)
  --config-dir <dir>    trust key (default $RUNYARD_CONFIG_DIR or $XDG_CONFIG_HOME/runyard)
  --python <path>       base interpreter (default $RUNYARD_PYTHON, then one with ipykernel)
  --id <id>             runtime id reported by GET /v1/runtime (default: standalone)
  --sandbox <mode>      off | auto | required: run kernels and workers in bubblewrap (default auto)
  --bwrap <path>        the bubblewrap binary (default: bwrap on PATH)
  --pool-envs <n>       prewarmed environments kept ready (default 1)
  --pool-kernels <n>    warm kernels kept ready (default 1)
  --confirm-env-builds  an env not cached yet is built only after consent (awaiting_env_build)
`;

function fail(message: string): never {
  process.stderr.write(`runyard-runtime: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function xdg(env: NodeJS.ProcessEnv, own: string, xdgName: string, fallback: string): string {
  return env[own] || join(env[xdgName] || join(homedir(), fallback), 'runyard');
}

async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '0' },
        token: { type: 'string' },
        workspace: { type: 'string' },
        'data-dir': { type: 'string' },
        'cache-dir': { type: 'string' },
        'config-dir': { type: 'string' },
        python: { type: 'string' },
        id: { type: 'string', default: 'standalone' },
        sandbox: { type: 'string', default: 'auto' },
        bwrap: { type: 'string' },
        'pool-envs': { type: 'string' },
        'pool-kernels': { type: 'string' },
        'confirm-env-builds': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals[0] !== 'serve' || positionals.length !== 1) fail('expected the command "serve"');
  const str = (name: string) => {
    const value = values[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const token = str('token') ?? env.RUNYARD_RUNTIME_TOKEN;
  if (!token) fail('a --token (or RUNYARD_RUNTIME_TOKEN) is required');
  const workspace = str('workspace');
  if (!workspace) fail('--workspace is required');
  const port = Number(str('port'));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) fail('--port must be 0-65535');
  const host = str('host') ?? '127.0.0.1';
  const sandbox = str('sandbox') ?? 'auto';
  if (sandbox !== 'off' && sandbox !== 'auto' && sandbox !== 'required')
    fail('--sandbox must be off, auto or required');
  const poolSize = (name: string): number | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    const size = Number(raw);
    if (!/^\d+$/.test(raw) || size > 16) fail(`--${name} must be 0-16`);
    return size;
  };
  const poolEnvs = poolSize('pool-envs');
  const poolKernels = poolSize('pool-kernels');

  const runtime = await createRuntime({
    dataDir: resolve(
      str('data-dir') ?? xdg(env, 'RUNYARD_DATA_DIR', 'XDG_DATA_HOME', '.local/share'),
    ),
    cacheDir: resolve(
      str('cache-dir') ?? xdg(env, 'RUNYARD_CACHE_DIR', 'XDG_CACHE_HOME', '.cache'),
    ),
    configDir: resolve(
      str('config-dir') ?? xdg(env, 'RUNYARD_CONFIG_DIR', 'XDG_CONFIG_HOME', '.config'),
    ),
    workspaceRoot: resolve(workspace),
    ...(str('python') ? { python: str('python') as string } : {}),
    id: str('id') ?? 'standalone',
    pool: {
      ...(poolEnvs === undefined ? {} : { envs: poolEnvs }),
      ...(poolKernels === undefined ? {} : { kernels: poolKernels }),
    },
    ...(values['confirm-env-builds'] ? { envBuilds: 'confirm' as const } : {}),
    env,
    sandbox,
    ...(str('bwrap') ? { bwrapPath: str('bwrap') as string } : {}),
    onLog: (line) => process.stderr.write(`runyard-runtime: ${line}\n`),
  });
  let listening: Awaited<ReturnType<typeof startRuntimeServer>>;
  try {
    listening = await startRuntimeServer({ api: runtime, host, port, token });
  } catch (error) {
    await runtime.close();
    throw error;
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await listening.close().catch(() => undefined);
    await runtime.close();
    process.exit(0);
  };
  // Installed before the line below announces readiness: a supervisor may send SIGTERM as soon
  // as it reads it, and without a listener the signal kills the process, leaving kernels behind.
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  process.stdout.write(
    `Runyard runtime listening on http://${host.includes(':') ? `[${host}]` : host}:${listening.port}\n`,
  );
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  process.stderr.write(
    `runyard-runtime: failed to start${code ? ` (${code})` : ''}: ${(error as Error).message}\n`,
  );
  process.exit(1);
});
