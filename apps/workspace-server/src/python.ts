import { existsSync } from 'node:fs';
import { type BasePython, pythonHasIpykernel, resolveBasePython } from '@runyard/kernels';

/**
 * Interpreters probed (in order) when neither `--python` nor `RUNYARD_PYTHON` names one. Only a
 * candidate that really has ipykernel is taken: whatever `python3` happens to be first on PATH
 * (often a pyenv shim without ipykernel) is never picked by luck.
 */
export const PYTHON_CANDIDATES = [
  '/usr/bin/python3',
  '/usr/local/bin/python3',
  '/opt/homebrew/bin/python3',
  '/opt/local/bin/python3',
] as const;

export interface ResolvedPython extends BasePython {
  /** The interpreters that were probed, for the startup message when none had ipykernel. */
  probed: string[];
}

/**
 * The base interpreter of every kernel env: `--python`/`RUNYARD_PYTHON` (config) wins; else the
 * first candidate with ipykernel; else the first existing candidate, reported with
 * `hasIpykernel: false` (envs then install ipykernel from the package index). Throws
 * `python_not_found` when no candidate exists at all.
 */
export async function resolvePython(options: {
  configured?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  candidates?: readonly string[];
}): Promise<ResolvedPython> {
  const candidates = [...(options.candidates ?? PYTHON_CANDIDATES)];
  const env: NodeJS.ProcessEnv = { ...options.env };
  const resolved = await resolveBasePython({
    ...(options.configured ? { configured: options.configured } : {}),
    // RUNYARD_PYTHON already reached `configured` through the config loader.
    env: { ...env, RUNYARD_PYTHON: '' },
    candidates,
    hasIpykernel: (python) => pythonHasIpykernel(python, env),
  });
  return { ...resolved, probed: candidates.filter((candidate) => existsSync(candidate)) };
}

/** One line for the startup banner. */
export function describePython(python: ResolvedPython): string {
  if (python.hasIpykernel) {
    return `Python: ${python.python} (ipykernel found${python.source === 'config' ? ', configured' : ''})`;
  }
  if (python.source === 'config') {
    return `WARNING: the configured Python ${python.python} has no ipykernel (or does not run): every kernel env must install ipykernel from the package index. Install it (e.g. apt install python3-ipykernel) or point --python / RUNYARD_PYTHON at an interpreter that has it.`;
  }
  return `WARNING: no Python with ipykernel was found (probed: ${python.probed.join(', ') || 'none'}); using ${python.python}, so every kernel env must install ipykernel from the package index. Install it (e.g. apt install python3-ipykernel) or set --python / RUNYARD_PYTHON.`;
}
