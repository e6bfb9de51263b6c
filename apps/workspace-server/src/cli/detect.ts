import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import {
  EnvDetectionError,
  MAX_NOTEBOOK_BYTES,
  nodeFs,
  parseNotebookJson,
  type ResolvedEnvironment,
  resolveEnvironment,
} from '@runyard/env-detection';
import {
  type CliIo,
  ExitCode,
  parseCommand,
  printHelp,
  printJson,
  println,
  UsageError,
} from './common.js';

export const DETECT_HELP = `Usage: runyard detect <notebook> [--json]

Shows which runtime and environment a notebook needs: the runtime (python or deno) and why,
where the environment comes from (inline metadata under metadata.runt or at the top level, a
PEP 723 block in a cell, pyproject.toml, pixi.toml, environment.yml, ...) and where in the
notebook the dependencies are declared, its dependencies and the environment hash.`;

/** Reads a notebook file with the size limit applied before reading it whole. */
function readNotebookFile(path: string): unknown {
  const size = statSync(path).size;
  if (size > MAX_NOTEBOOK_BYTES) {
    throw new EnvDetectionError(
      'notebook_too_large',
      `notebook is ${size} bytes; the limit is ${MAX_NOTEBOOK_BYTES}`,
    );
  }
  return parseNotebookJson(readFileSync(path, 'utf8'));
}

export async function resolveNotebook(
  io: CliIo,
  file: string,
): Promise<{ path: string; notebook: unknown; resolved: ResolvedEnvironment }> {
  const path = resolve(io.cwd, file);
  const notebook = readNotebookFile(path);
  const resolved = await resolveEnvironment({
    notebookPath: path,
    notebook,
    fs: nodeFs,
    homeDir: resolve(io.env.HOME ?? homedir()),
  });
  return { path, notebook, resolved };
}

/** The documented `detect --json` shape. */
export function detectJson(resolved: ResolvedEnvironment) {
  return {
    runtime: resolved.runtime,
    runtimeReason: resolved.runtimeReason,
    env: {
      source: resolved.source,
      projectFile: resolved.projectFile,
      declaredIn: resolved.declaredIn,
      dependencies: resolved.dependencies.map(({ ecosystem, name, spec }) => ({
        ecosystem,
        name,
        spec,
      })),
      channels: resolved.channels,
      requiresPython: resolved.requiresPython,
      envHash: resolved.envHash,
    },
    warnings: resolved.warnings,
  };
}

export async function detectCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(io, args, { json: { type: 'boolean' } });
  if (values.help) return printHelp(io, DETECT_HELP, true);
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) throw new UsageError('detect takes exactly one notebook path');
  const { resolved } = await resolveNotebook(io, file);
  const result = detectJson(resolved);
  if (values.json) {
    printJson(io, result);
    return ExitCode.ok;
  }
  println(io.stdout, `runtime:      ${result.runtime} (${result.runtimeReason})`);
  println(
    io.stdout,
    `environment:  ${result.env.source}${result.env.projectFile ? ` from ${result.env.projectFile}` : ''}${result.env.declaredIn ? ` in ${result.env.declaredIn}` : ''}`,
  );
  if (result.env.requiresPython) println(io.stdout, `python:       ${result.env.requiresPython}`);
  if (result.env.channels.length > 0)
    println(io.stdout, `channels:     ${result.env.channels.join(', ')}`);
  println(io.stdout, `env hash:     ${result.env.envHash ?? '(none)'}`);
  println(io.stdout, `dependencies: ${result.env.dependencies.length === 0 ? '(none)' : ''}`);
  for (const dep of result.env.dependencies)
    println(io.stdout, `  ${dep.spec}  [${dep.ecosystem}]`);
  for (const warning of result.warnings) println(io.stdout, `warning: ${warning.message}`);
  return ExitCode.ok;
}
