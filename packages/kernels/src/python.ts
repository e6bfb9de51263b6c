import { existsSync } from 'node:fs';
import { KernelError } from './errors.js';
import { runCommand, which } from './process.js';

export type PythonSource = 'config' | 'env' | 'candidate';

export interface BasePython {
  python: string;
  source: PythonSource;
  hasIpykernel: boolean;
}

export interface ResolveBasePythonOptions {
  /** Explicit configuration wins over everything. */
  configured?: string;
  /** Read for `RUNYARD_PYTHON` and PATH; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Interpreters to try in order; default: python3/python on PATH, then common system paths. */
  candidates?: string[];
  hasIpykernel?: (python: string) => Promise<boolean>;
}

/** Fast probe: finds the module without importing it. */
export async function pythonHasIpykernel(
  python: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  try {
    const result = await runCommand(
      [
        python,
        '-c',
        'import importlib.util,sys; sys.exit(0 if importlib.util.find_spec("ipykernel") else 3)',
      ],
      { env },
    );
    return result.code === 0;
  } catch {
    return false;
  }
}

export function defaultPythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromPath = ['python3', 'python']
    .map((name) => which(name, env))
    .filter((p): p is string => Boolean(p));
  return [
    ...new Set([
      ...fromPath,
      '/usr/local/bin/python3',
      '/usr/bin/python3',
      '/opt/homebrew/bin/python3',
    ]),
  ];
}

/**
 * The base interpreter is explicit: configuration, then `RUNYARD_PYTHON`, then the first
 * candidate that really has ipykernel. When no candidate has it, the first existing candidate is
 * returned with `hasIpykernel: false` so isolated envs (which install ipykernel) still work.
 */
export async function resolveBasePython(
  options: ResolveBasePythonOptions = {},
): Promise<BasePython> {
  const env = options.env ?? process.env;
  const probe = options.hasIpykernel ?? ((python: string) => pythonHasIpykernel(python, env));
  if (options.configured) {
    return {
      python: options.configured,
      source: 'config',
      hasIpykernel: await probe(options.configured),
    };
  }
  const fromEnv = env.RUNYARD_PYTHON;
  if (fromEnv) return { python: fromEnv, source: 'env', hasIpykernel: await probe(fromEnv) };
  const candidates = (options.candidates ?? defaultPythonCandidates(env)).filter((c) =>
    existsSync(c),
  );
  for (const candidate of candidates) {
    if (await probe(candidate))
      return { python: candidate, source: 'candidate', hasIpykernel: true };
  }
  const first = candidates[0];
  if (first) return { python: first, source: 'candidate', hasIpykernel: false };
  throw new KernelError('python_not_found', 'No Python interpreter was found; set RUNYARD_PYTHON');
}
