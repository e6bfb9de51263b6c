import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { z } from 'zod';
import type { InterruptMode } from './client.js';

const kernelJsonSchema = z.object({
  argv: z.array(z.string()).min(1),
  display_name: z.string(),
  language: z.string().optional().default(''),
  interrupt_mode: z.enum(['signal', 'message']).optional().default('signal'),
  env: z.record(z.string(), z.string()).optional().default({}),
  metadata: z.record(z.string(), z.unknown()).optional().default({}),
});

export interface Kernelspec {
  name: string;
  /** The kernelspec's directory (`{resource_dir}` in argv). */
  resourceDir: string;
  argv: string[];
  displayName: string;
  language: string;
  interruptMode: InterruptMode;
  env: Record<string, string>;
  metadata: Record<string, unknown>;
}

/** Jupyter's kernel name rule; anything else (`..`, slashes) is not a kernelspec. */
const KERNEL_NAME = /^[a-z0-9._-]+$/i;

export interface JupyterDirsOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Prefix of the notebook's environment; its kernelspecs win. */
  envPrefix?: string;
  /** System data dirs; defaults to /usr/local/share/jupyter and /usr/share/jupyter. */
  systemDirs?: string[];
}

/** Jupyter data dirs in precedence order: env prefix, JUPYTER_PATH, user, system. */
export function jupyterDataDirs(options: JupyterDirsOptions = {}): string[] {
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const dirs: string[] = [];
  if (options.envPrefix) dirs.push(join(options.envPrefix, 'share', 'jupyter'));
  for (const entry of (env.JUPYTER_PATH ?? '').split(delimiter)) if (entry) dirs.push(entry);
  dirs.push(
    env.JUPYTER_DATA_DIR ?? join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'jupyter'),
  );
  dirs.push(...(options.systemDirs ?? ['/usr/local/share/jupyter', '/usr/share/jupyter']));
  return [...new Set(dirs)];
}

export function readKernelspec(name: string, resourceDir: string): Kernelspec | undefined {
  if (!KERNEL_NAME.test(name)) return undefined;
  try {
    const parsed = kernelJsonSchema.safeParse(
      JSON.parse(readFileSync(join(resourceDir, 'kernel.json'), 'utf8')),
    );
    if (!parsed.success) return undefined;
    return {
      name,
      resourceDir,
      argv: parsed.data.argv,
      displayName: parsed.data.display_name,
      language: parsed.data.language,
      interruptMode: parsed.data.interrupt_mode,
      env: parsed.data.env,
      metadata: parsed.data.metadata,
    };
  } catch {
    return undefined;
  }
}

/**
 * Finds kernelspecs under `<dir>/kernels/<name>/kernel.json` for each data dir; the first dir
 * that defines a name wins. Unreadable or invalid specs are skipped, never thrown.
 */
export function findKernelspecs(
  options: JupyterDirsOptions & { dataDirs?: string[] } = {},
): Kernelspec[] {
  const dirs = options.dataDirs ?? jupyterDataDirs(options);
  const found = new Map<string, Kernelspec>();
  for (const dir of dirs) {
    const kernelsDir = join(dir, 'kernels');
    if (!existsSync(kernelsDir)) continue;
    let names: string[];
    try {
      names = readdirSync(kernelsDir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (found.has(name.toLowerCase())) continue;
      const resourceDir = join(kernelsDir, name);
      try {
        if (!statSync(resourceDir).isDirectory()) continue;
      } catch {
        continue;
      }
      const spec = readKernelspec(name, resourceDir);
      if (spec) found.set(name.toLowerCase(), spec);
    }
  }
  return [...found.values()];
}
