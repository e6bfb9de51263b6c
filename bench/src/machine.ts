import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export const SYSTEM_PYTHON = process.env.RUNYARD_BENCH_PYTHON ?? '/usr/bin/python3';

function pythonValue(code: string): string | null {
  try {
    return execFileSync(SYSTEM_PYTHON, ['-c', code], { encoding: 'utf8', timeout: 30_000 }).trim();
  } catch {
    return null;
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  python: string | null;
  ipykernel: string | null;
  jupyterClient: string | null;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    python: pythonValue('import platform; print(platform.python_version())'),
    ipykernel: pythonValue('import ipykernel; print(ipykernel.__version__)'),
    jupyterClient: pythonValue('import jupyter_client; print(jupyter_client.__version__)'),
  };
}

/**
 * Debian's jupyter_client is the baseline for kernel start; install it when missing and
 * running as root, otherwise report that the comparison is skipped.
 */
export function ensureJupyterClient(): { available: boolean; note?: string } {
  if (pythonValue('import jupyter_client') !== null) return { available: true };
  if (process.getuid?.() === 0) {
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', 'python3-jupyter-client'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
      if (pythonValue('import jupyter_client') !== null) return { available: true };
    } catch {
      // fall through to the skip note
    }
  }
  return {
    available: false,
    note: 'python3-jupyter-client is not installed (run as root to install it): jupyter_client baselines skipped',
  };
}
