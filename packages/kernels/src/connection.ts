import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { KernelError } from './errors.js';

export const connectionInfoSchema = z.object({
  transport: z.enum(['tcp', 'ipc']),
  ip: z.string(),
  shell_port: z.number().int(),
  iopub_port: z.number().int(),
  stdin_port: z.number().int(),
  control_port: z.number().int(),
  hb_port: z.number().int(),
  key: z.string(),
  signature_scheme: z.literal('hmac-sha256'),
  kernel_name: z.string().optional(),
});
export type ConnectionInfo = z.infer<typeof connectionInfoSchema>;
export type Channel = 'shell' | 'iopub' | 'stdin' | 'control' | 'hb';
export type Transport = 'tcp' | 'ipc';

const channelPort: Record<Channel, keyof ConnectionInfo> = {
  shell: 'shell_port',
  iopub: 'iopub_port',
  stdin: 'stdin_port',
  control: 'control_port',
  hb: 'hb_port',
};

export function channelAddress(info: ConnectionInfo, channel: Channel): string {
  const port = info[channelPort[channel]] as number;
  return info.transport === 'tcp' ? `tcp://${info.ip}:${port}` : `ipc://${info.ip}-${port}`;
}

/** Ports handed out from below Linux's default ephemeral range (32768-60999). */
const FIXED_RANGE = { low: 20_000, high: 32_767 } as const;

function ephemeralLow(): number | undefined {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function listen(port: number, host: string): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}

/**
 * Distinct free loopback ports for a kernel to bind a moment later. A port the OS picks for
 * `listen(0)` comes from the ephemeral range, which is also where every outgoing connection's
 * source port comes from; on a busy machine one of them can take the port before the kernel
 * binds it (the kernel then dies with "Address already in use"). So ports are drawn at random
 * from below the ephemeral range, where only explicit binders compete, and probed by binding;
 * all probes stay open until every port is known so one call never repeats a port. Falls back
 * to OS-assigned ports when the ephemeral range starts too low to leave room.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const low = ephemeralLow() ?? FIXED_RANGE.high + 1;
  const high = Math.min(FIXED_RANGE.high, low - 1);
  const servers: Server[] = [];
  const roomy = high - FIXED_RANGE.low > 1000;
  try {
    for (let tries = 0; servers.length < count; tries++) {
      // After a few misses (a crowded range) let the OS choose rather than loop.
      const port =
        roomy && tries < count * 10 ? FIXED_RANGE.low + randomInt(high - FIXED_RANGE.low + 1) : 0;
      const server = await listen(port, host);
      if (server) servers.push(server);
      else if (port === 0) throw new KernelError('kernel_exited', 'No free loopback port');
    }
    return servers.map((server) => {
      const address = server.address();
      return typeof address === 'object' && address !== null ? address.port : 0;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export async function createConnectionInfo(options: {
  transport?: Transport;
  /** Directory for ipc socket files. */
  runtimeDir: string;
  kernelName?: string;
  key?: string;
}): Promise<ConnectionInfo> {
  const key = options.key ?? randomBytes(32).toString('hex');
  const base = {
    key,
    signature_scheme: 'hmac-sha256' as const,
    kernel_name: options.kernelName ?? '',
  };
  if (options.transport === 'ipc') {
    // Unix socket paths are limited to ~107 bytes; keep the prefix short.
    return {
      transport: 'ipc',
      ip: join(options.runtimeDir, `k-${randomUUID().slice(0, 8)}`),
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
      ...base,
    };
  }
  const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    transport: 'tcp',
    ip: '127.0.0.1',
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    ...base,
  };
}

/** `$XDG_RUNTIME_DIR/runyard-kernels`, else a per-user directory under the temp dir. */
export function defaultRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'runyard-kernels');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return join(tmpdir(), `runyard-kernels-${uid}`);
}

/**
 * Makes sure `dir` is a private directory before keys and sockets go in it. The fallback
 * `<tmp>/runyard-kernels-<uid>` has a predictable name in a world-writable directory, so another
 * user could create it first (or plant a symlink there) and read every connection file. Refuses
 * a symlink, a non-directory and a directory owned by another user (`runtime_dir_insecure`);
 * tightens our own directory to 0700.
 */
export function ensurePrivateRuntimeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // EEXIST for a dangling symlink or a file in the way: the checks below say which.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink())
    throw new KernelError(
      'runtime_dir_insecure',
      'The kernel runtime directory is a symbolic link',
    );
  if (!stat.isDirectory())
    throw new KernelError('runtime_dir_insecure', 'The kernel runtime path is not a directory');
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stat.uid !== uid) {
    throw new KernelError(
      'runtime_dir_insecure',
      'The kernel runtime directory belongs to another user; set XDG_RUNTIME_DIR or pass runtimeDir',
    );
  }
  // umask may loosen the mode of a dir we create; an older dir of ours may be loose too.
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** Writes the connection file owner-only (it holds the signing key) in a private runtime dir. */
export function writeConnectionFile(runtimeDir: string, info: ConnectionInfo): string {
  ensurePrivateRuntimeDir(runtimeDir);
  const file = join(runtimeDir, `kernel-${randomUUID()}.json`);
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

/** Files a kernel leaves behind: the connection file and, for ipc, its socket files. */
export function removeConnectionFiles(file: string | undefined, info: ConnectionInfo): void {
  if (file) rmSync(file, { force: true });
  if (info.transport === 'ipc') {
    for (const channel of Object.keys(channelPort) as Channel[]) {
      rmSync(`${info.ip}-${info[channelPort[channel]] as number}`, { force: true });
    }
  }
}
