import {
  type InterruptMode,
  KernelClient,
  type KernelClientOptions,
  type KernelRuntime,
} from './client.js';
import {
  type ConnectionInfo,
  createConnectionInfo,
  defaultRuntimeDir,
  removeConnectionFiles,
  type Transport,
  writeConnectionFile,
} from './connection.js';
import { KernelError } from './errors.js';
import type { Kernelspec } from './kernelspec.js';
import { type ExitInfo, kernelEnvironment, ManagedProcess } from './process.js';

export interface LaunchKernelOptions {
  /** Kernel command; `{connection_file}` is replaced with the connection file path. */
  argv?: string[];
  kernelspec?: Kernelspec;
  /**
   * Base environment of the kernel; kernelspec env is layered on top. Default: this process's
   * environment minus every `RUNYARD_*` variable (`kernelEnvironment`), so notebook code cannot
   * read host secrets or the API token. When given, it is used as is.
   */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  transport?: Transport;
  /** Default 60 s. */
  startupTimeoutMs?: number;
  /** Where connection files (0600) and ipc sockets go; created 0700. */
  runtimeDir?: string;
  signal?: AbortSignal;
  interruptMode?: InterruptMode;
  kernelName?: string;
  client?: Omit<KernelClientOptions, 'relaunch' | 'interruptMode'>;
  /**
   * Turns the kernel command into the command actually spawned, on every (re)start: e.g. runs
   * it inside a sandbox. The wrapper must keep the connection file (and, for ipc, the socket
   * directory) reachable under the same path; the process spawned is the wrapper's.
   */
  wrapCommand?: (argv: string[], context: WrapContext) => string[];
}

export interface WrapContext {
  /** The connection file this start wrote (in `runtimeDir`). */
  connectionFile: string;
  connection: ConnectionInfo;
}

const MISSING_IPYKERNEL = /No module named '?ipykernel/;

export function classifyKernelExit(
  exit: ExitInfo,
  stderrTail: string[],
  spawnError?: Error,
): KernelError {
  const details = { exitCode: exit.code, signal: exit.signal, stderrTail };
  if (spawnError) {
    return new KernelError('kernel_exited', 'The kernel command could not be started', {
      cause: spawnError,
      details,
    });
  }
  if (stderrTail.some((line) => MISSING_IPYKERNEL.test(line))) {
    return new KernelError('missing_ipykernel', 'The interpreter cannot import ipykernel', {
      details,
    });
  }
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  return new KernelError('kernel_exited', `The kernel exited during startup (${how})`, { details });
}

function substitute(argv: readonly string[], values: Record<string, string>): string[] {
  return argv.map((arg) =>
    arg.replace(
      /\{(connection_file|resource_dir)\}/g,
      (match, key: string) => values[key] ?? match,
    ),
  );
}

/**
 * Starts a kernel and resolves with a connected client once it answered `kernel_info` and its
 * iopub is proven live. Startup races the process exit, `startupTimeoutMs` and `signal`; on
 * failure the process is killed and its files removed.
 */
export async function launchKernel(options: LaunchKernelOptions): Promise<KernelClient> {
  const spec = options.kernelspec;
  const argv = options.argv ?? spec?.argv;
  if (!argv || argv.length === 0)
    throw new KernelError('kernelspec_invalid', 'No kernel command was given');
  const baseEnv = options.env ?? kernelEnvironment();
  const env = { ...baseEnv, ...(spec?.env ?? {}) };
  const runtimeDir = options.runtimeDir ?? defaultRuntimeDir(baseEnv);
  const kernelName = options.kernelName ?? spec?.name;

  const start = async (): Promise<KernelRuntime> => {
    const connection = await createConnectionInfo({
      transport: options.transport ?? 'tcp',
      runtimeDir,
      ...(kernelName ? { kernelName } : {}),
    });
    const file = writeConnectionFile(runtimeDir, connection);
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      removeConnectionFiles(file, connection);
    };
    let proc: ManagedProcess;
    try {
      const command = substitute(argv, {
        connection_file: file,
        resource_dir: spec?.resourceDir ?? '',
      });
      proc = new ManagedProcess(
        options.wrapCommand
          ? options.wrapCommand(command, { connectionFile: file, connection })
          : command,
        {
          env,
          ...(options.cwd ? { cwd: options.cwd } : {}),
        },
      );
    } catch (error) {
      cleanup();
      throw new KernelError('kernel_exited', 'The kernel command could not be started', {
        cause: error,
      });
    }
    void proc.exited.then(cleanup);
    return {
      connection,
      process: proc,
      cleanup,
      classifyExit: (exit, tail) => classifyKernelExit(exit, tail, proc.error),
    };
  };

  // A tcp port can still be taken between choosing it and the kernel binding it; that start
  // is retried on fresh ports (a few times) instead of failing the caller.
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted)
      throw new KernelError('launch_aborted', 'The kernel launch was aborted');
    const client = new KernelClient(await start(), {
      ...options.client,
      interruptMode: options.interruptMode ?? spec?.interruptMode ?? 'signal',
      relaunch: start,
    });
    try {
      await client.waitReady({
        timeoutMs: options.startupTimeoutMs ?? 60_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return client;
    } catch (error) {
      await client.close();
      if (attempt >= MAX_PORT_RACE_ATTEMPTS || !lostPortRace(error)) throw error;
    }
  }
}

const MAX_PORT_RACE_ATTEMPTS = 3;
const ADDRESS_IN_USE = /Address already in use|EADDRINUSE/i;

/** The kernel died at startup because one of its ports was taken meanwhile. */
export function lostPortRace(error: unknown): boolean {
  return (
    error instanceof KernelError &&
    error.code === 'kernel_exited' &&
    (error.details.stderrTail ?? []).some((line) => ADDRESS_IN_USE.test(line))
  );
}

/** argv for an ipykernel kernel on `python`. */
export function ipykernelArgv(python: string): string[] {
  return [python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
}
