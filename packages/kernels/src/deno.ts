import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { KernelClient } from './client.js';
import { KernelError } from './errors.js';
import { type LaunchKernelOptions, launchKernel } from './launch.js';
import { which } from './process.js';

function npmTarget(platform: NodeJS.Platform, arch: string): string | undefined {
  const os =
    platform === 'win32'
      ? 'win32'
      : platform === 'darwin'
        ? 'darwin'
        : platform === 'linux'
          ? 'linux'
          : undefined;
  if (!os || (arch !== 'x64' && arch !== 'arm64')) return undefined;
  return os === 'linux' ? `linux-${arch}-glibc` : `${os}-${arch}`;
}

/**
 * The `deno` binary shipped by the `deno` npm package. Resolved from the platform package
 * directly, so it works even when the package's postinstall (which copies the binary) was not
 * allowed to run.
 */
export function denoFromNpm(
  options: { platform?: NodeJS.Platform; arch?: string; resolveFrom?: string } = {},
): string | undefined {
  const exe = (options.platform ?? process.platform) === 'win32' ? 'deno.exe' : 'deno';
  try {
    const require = createRequire(options.resolveFrom ?? import.meta.url);
    const packageDir = dirname(require.resolve('deno/package.json'));
    const copied = join(packageDir, exe);
    if (existsSync(copied)) return copied;
    const target = npmTarget(options.platform ?? process.platform, options.arch ?? process.arch);
    if (!target) return undefined;
    const platformDir = dirname(
      createRequire(join(packageDir, 'package.json')).resolve(`@deno/${target}/package.json`),
    );
    const binary = join(platformDir, exe);
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

/** `deno` from PATH, else from the `deno` npm package. */
export function findDeno(
  options: { env?: NodeJS.ProcessEnv; resolveFrom?: string } = {},
): string | undefined {
  return (
    which('deno', options.env ?? process.env) ??
    denoFromNpm(options.resolveFrom ? { resolveFrom: options.resolveFrom } : {})
  );
}

export interface LaunchDenoKernelOptions extends Omit<LaunchKernelOptions, 'argv' | 'kernelspec'> {
  /** Path of the deno binary; default `findDeno()`. */
  deno?: string;
  /**
   * The notebook's deno.json. `deno jupyter` has no --config flag; deno discovers the config
   * by walking up from the working directory, so the kernel starts in the config's directory.
   */
  denoJson?: string;
}

export function denoKernelArgv(deno: string): string[] {
  return [deno, 'jupyter', '--kernel', '--conn', '{connection_file}'];
}

export async function launchDenoKernel(
  options: LaunchDenoKernelOptions = {},
): Promise<KernelClient> {
  const deno = options.deno ?? findDeno(options.env ? { env: options.env } : {});
  if (!deno)
    throw new KernelError('deno_not_found', 'No deno binary on PATH or in the deno npm package');
  const { deno: _deno, denoJson, ...rest } = options;
  return launchKernel({
    ...rest,
    argv: denoKernelArgv(deno),
    kernelName: options.kernelName ?? 'deno',
    // Deno's kernel handles interrupt_request itself.
    interruptMode: options.interruptMode ?? 'message',
    ...(denoJson ? { cwd: dirname(denoJson) } : {}),
  });
}
