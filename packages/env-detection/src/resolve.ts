import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { parseChannel } from './channels.js';
import { type Dependency, DependencySchema } from './dependencies.js';
import { computeCondaEnvHash, computeUvEnvHash } from './env-hash.js';
import { EnvDetectionError } from './errors.js';
import type { EnvFs } from './fs.js';
import { type Notebook, parseNotebook, readInlineDependencies } from './notebook.js';
import { findPep723Blocks } from './pep723.js';
import {
  DENO_CONFIG_FILES,
  MAX_PROJECT_FILE_BYTES,
  type ProjectEnvironment,
  PYTHON_PROJECT_FILES,
  type PythonProjectFileName,
  parseProjectFile,
} from './project-files.js';
import { detectRuntime, RuntimeKindSchema, RuntimeReasonSchema } from './runtime.js';
import { type EnvWarning, EnvWarningSchema } from './warnings.js';

export const EnvSourceSchema = z.enum([
  'uv:inline',
  'uv:pep723',
  'conda:inline',
  'pixi:inline',
  'uv:pyproject',
  'pixi:toml',
  'conda:env_yml',
  'uv:prewarmed',
  'conda:prewarmed',
  'deno',
]);
export type EnvSource = z.infer<typeof EnvSourceSchema>;

export const PythonManagerSchema = z.enum(['uv', 'conda']);
export type PythonManager = z.infer<typeof PythonManagerSchema>;

export const EnvPreferencesSchema = z.object({
  /** Runtime for notebooks that name none. */
  defaultRuntime: RuntimeKindSchema.default('python'),
  /** Wins when a notebook declares both uv and conda dependencies; picks the prewarmed pool. */
  preferredManager: PythonManagerSchema.default('uv'),
});
export type EnvPreferences = z.infer<typeof EnvPreferencesSchema>;

export const ResolvedEnvironmentSchema = z.object({
  runtime: RuntimeKindSchema,
  runtimeReason: RuntimeReasonSchema,
  source: EnvSourceSchema,
  /** The project file or Deno config used, relative to the notebook's directory (`/`-separated). */
  projectFile: z.string().nullable(),
  /**
   * Where in the notebook inline dependencies were read, as a path into the notebook JSON:
   * `metadata.runt.uv`, `metadata.uv`, `metadata.runt.pixi`, `cells[2].source` (a PEP 723
   * block), ...; null for project files, prewarmed environments and Deno.
   */
  declaredIn: z.string().nullable(),
  /** `name` of an environment.yml. */
  envName: z.string().nullable(),
  dependencies: z.array(DependencySchema),
  channels: z.array(z.string()),
  requiresPython: z.string().nullable(),
  /** Python version of an inline conda section (`metadata.conda.python`). */
  python: z.string().nullable(),
  /** Cache key of the environment (16 lowercase hex); null for Deno, which builds none. */
  envHash: z
    .string()
    .regex(/^[0-9a-f]{16}$/)
    .nullable(),
  warnings: z.array(EnvWarningSchema),
});
export type ResolvedEnvironment = z.infer<typeof ResolvedEnvironmentSchema>;

export interface ResolveEnvironmentInput {
  /** Absolute path of the notebook file. */
  notebookPath: string;
  /** The notebook, parsed or not; it is validated with `NotebookSchema` either way. */
  notebook: unknown;
  preferences?: Partial<EnvPreferences>;
  fs: EnvFs;
  /** The user's home directory: the walk-up never looks above it. */
  homeDir: string;
  /**
   * Identity of a notebook without dependencies, keeping its environment its own. Defaults to
   * `metadata.runyard.env_id`, then to `notebook:` + the notebook's absolute path.
   */
  envId?: string;
}

/** Levels the walk-up visits at most, whatever the filesystem claims. */
const MAX_WALK_LEVELS = 256;

interface FoundFile {
  path: string;
  name: string;
  size: number;
}

/**
 * Walks up from `startDir` looking for the first of `names` present as a regular file in a
 * directory. Each directory is checked, then the walk stops if that directory holds `.git`
 * (file or directory: worktrees and submodules use a file) or is the home directory, so a
 * notebook never picks up another repository's or the user's global project file.
 */
async function findClosest(
  fs: EnvFs,
  startDir: string,
  homeDir: string,
  names: readonly string[],
): Promise<FoundFile | null> {
  let dir = startDir;
  for (let level = 0; level < MAX_WALK_LEVELS; level++) {
    for (const name of names) {
      const path = join(dir, name);
      const info = await fs.stat(path);
      if (info?.kind === 'file') return { path, name, size: info.size };
    }
    if (dir === homeDir) return null;
    if ((await fs.stat(join(dir, '.git'))) !== null) return null;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
  return null;
}

function displayPath(notebookDir: string, file: string): string {
  return relative(notebookDir, file).split(sep).join('/');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readProjectFile(fs: EnvFs, found: FoundFile, shown: string): Promise<string> {
  const tooBig = (size: number) =>
    new EnvDetectionError(
      'project_file_invalid',
      `${shown}: file is ${size} bytes; the limit is ${MAX_PROJECT_FILE_BYTES}`,
      { details: { path: shown } },
    );
  if (found.size > MAX_PROJECT_FILE_BYTES) throw tooBig(found.size);
  let content: Uint8Array | string;
  try {
    content = await fs.readFile(found.path, MAX_PROJECT_FILE_BYTES);
  } catch (error) {
    throw new EnvDetectionError('project_file_invalid', `${shown}: file could not be read`, {
      cause: error,
      details: { path: shown },
    });
  }
  const size = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  if (size > MAX_PROJECT_FILE_BYTES) throw tooBig(size);
  if (typeof content === 'string') return content;
  try {
    return utf8.decode(content);
  } catch (error) {
    throw new EnvDetectionError('project_file_invalid', `${shown}: file is not valid UTF-8`, {
      cause: error,
      details: { path: shown },
    });
  }
}

function inlineChannels(list: string[], declaredIn: string): string[] {
  return list.map((channel) => {
    try {
      return parseChannel(channel);
    } catch (error) {
      throw new EnvDetectionError(
        'invalid_dependency',
        `${declaredIn}.channels: ${(error as Error).message}`,
        { cause: error },
      );
    }
  });
}

function uvResult(
  base: Pick<ResolvedEnvironment, 'runtime' | 'runtimeReason' | 'warnings'>,
  source: EnvSource,
  fields: {
    projectFile?: string | null;
    declaredIn?: string | null;
    dependencies: Dependency[];
    requiresPython: string | null;
    envId: string;
  },
): ResolvedEnvironment {
  return assemble(
    base,
    source,
    { ...fields, channels: [], python: null },
    computeUvEnvHash(fields),
  );
}

function condaResult(
  base: Pick<ResolvedEnvironment, 'runtime' | 'runtimeReason' | 'warnings'>,
  source: EnvSource,
  fields: {
    projectFile?: string | null;
    declaredIn?: string | null;
    envName?: string | null;
    dependencies: Dependency[];
    channels: string[];
    requiresPython: string | null;
    python: string | null;
    envId: string;
  },
): ResolvedEnvironment {
  return assemble(base, source, fields, computeCondaEnvHash(fields));
}

/** Where a notebook declares Python dependencies, unparsed (for the Deno warning). */
function declaredPythonDependencies(notebook: Notebook): string[] {
  const { metadata } = notebook;
  const found: string[] = [];
  for (const manager of ['uv', 'conda', 'pixi'] as const) {
    const namespaced = metadata.runt?.[manager] as Record<string, unknown> | undefined;
    if (namespaced?.dependencies !== undefined || namespaced?.pypi_dependencies !== undefined)
      found.push(`metadata.runt.${manager}`);
  }
  if (metadata.uv?.dependencies !== undefined) found.push('metadata.uv');
  if (metadata.conda?.dependencies !== undefined) found.push('metadata.conda');
  for (const block of findPep723Blocks(notebook.cells))
    found.push(`cells[${block.cellIndex}].source`);
  return found;
}

/** The one place a result is built; a uv result has no channels and no python pin. */
function assemble(
  base: Pick<ResolvedEnvironment, 'runtime' | 'runtimeReason' | 'warnings'>,
  source: EnvSource,
  fields: {
    projectFile?: string | null;
    declaredIn?: string | null;
    envName?: string | null;
    dependencies: Dependency[];
    channels: string[];
    requiresPython: string | null;
    python: string | null;
  },
  envHash: string,
): ResolvedEnvironment {
  return {
    ...base,
    source,
    projectFile: fields.projectFile ?? null,
    declaredIn: fields.declaredIn ?? null,
    envName: fields.envName ?? null,
    dependencies: fields.dependencies,
    channels: fields.channels,
    requiresPython: fields.requiresPython,
    python: fields.python,
    envHash,
  };
}

/**
 * Decides where a notebook's environment comes from. Python, first match wins:
 * 1. inline dependencies (`readInlineDependencies`: `metadata.runt.*` before the top-level
 *    keys): uv (`uv:inline`), conda (`conda:inline`), pixi (`pixi:inline`); several → the
 *    preferred manager when it is one of them, else the first of uv, conda, pixi, with an
 *    `inline_manager_conflict` warning; without metadata dependencies, a PEP 723 block in a
 *    code cell (`uv:pep723`);
 * 2. the closest project file walking up from the notebook's directory, checking
 *    `pyproject.toml` (`uv:pyproject`, or `pixi:toml` with `[tool.pixi]`), `pixi.toml`,
 *    `environment.yml`, `environment.yaml` in each directory;
 * 3. a prewarmed environment of the preferred manager (`uv:prewarmed` / `conda:prewarmed`).
 * Deno notebooks get source `deno` with the closest `deno.json`/`deno.jsonc` as config.
 */
export async function resolveEnvironment(
  input: ResolveEnvironmentInput,
): Promise<ResolvedEnvironment> {
  if (!isAbsolute(input.notebookPath) || !isAbsolute(input.homeDir)) {
    // The message names the fields, never the paths a caller passed.
    throw new EnvDetectionError('invalid_input', 'notebookPath and homeDir must be absolute paths');
  }
  const preferences = EnvPreferencesSchema.parse(input.preferences ?? {});
  const notebook = parseNotebook(input.notebook);
  const notebookPath = resolve(input.notebookPath);
  const homeDir = resolve(input.homeDir);
  const notebookDir = dirname(notebookPath);
  const detection = detectRuntime(notebook, { defaultRuntime: preferences.defaultRuntime });
  const warnings: EnvWarning[] = [];
  const base = { runtime: detection.runtime, runtimeReason: detection.reason, warnings };

  if (detection.runtime === 'deno') {
    // Not parsed: a Deno kernel installs none of them, so a bad entry must not stop the notebook.
    const declared = declaredPythonDependencies(notebook);
    if (declared.length > 0) {
      warnings.push({
        code: 'inline_dependencies_ignored',
        message: `the notebook runs on Deno; its Python dependency declarations (${declared.join(', ')}) are ignored`,
      });
    }
    const config = await findClosest(input.fs, notebookDir, homeDir, DENO_CONFIG_FILES);
    return {
      ...base,
      source: 'deno',
      projectFile: config ? displayPath(notebookDir, config.path) : null,
      declaredIn: null,
      envName: null,
      dependencies: [],
      channels: [],
      requiresPython: null,
      python: null,
      envHash: null,
    };
  }

  const inline = readInlineDependencies(notebook);
  warnings.push(...inline.warnings);
  const runtEnvId = notebook.metadata.runt?.env_id;
  const notebookEnvId =
    input.envId ??
    notebook.metadata.runyard?.env_id ??
    (typeof runtEnvId === 'string' && runtEnvId !== '' ? runtEnvId : undefined) ??
    `notebook:${notebookPath}`;
  const declared = (['uv', 'conda', 'pixi'] as const).filter((m) => inline[m] !== undefined);
  const manager = declared.includes(preferences.preferredManager)
    ? preferences.preferredManager
    : declared[0];
  if (declared.length > 1) {
    warnings.push({
      code: 'inline_manager_conflict',
      message: `the notebook declares ${declared.join(' and ')} dependencies; using ${manager}${manager === preferences.preferredManager ? ' (the preferred manager)' : ''}`,
    });
  }
  if (manager === 'conda' || manager === 'pixi') {
    const spec = inline[manager];
    if (spec) {
      return condaResult(base, `${manager}:inline`, {
        declaredIn: spec.declaredIn,
        dependencies: spec.dependencies,
        channels: inlineChannels(spec.channels, spec.declaredIn),
        requiresPython: null,
        python: spec.python ?? null,
        envId: notebookEnvId,
      });
    }
  }
  if (manager === 'uv' && inline.uv) {
    return uvResult(base, inline.uv.declaredIn.startsWith('cells[') ? 'uv:pep723' : 'uv:inline', {
      declaredIn: inline.uv.declaredIn,
      dependencies: inline.uv.dependencies,
      requiresPython: inline.uv.requiresPython ?? null,
      envId: notebookEnvId,
    });
  }

  const found = await findClosest(input.fs, notebookDir, homeDir, PYTHON_PROJECT_FILES);
  if (found) {
    const shown = displayPath(notebookDir, found.path);
    const text = await readProjectFile(input.fs, found, shown);
    const project: ProjectEnvironment = parseProjectFile(
      found.name as PythonProjectFileName,
      text,
      shown,
    );
    warnings.push(...project.warnings);
    // A project without dependencies is still one environment for all its notebooks.
    const envId = `project:${found.path}`;
    if (project.source === 'uv:pyproject') {
      return uvResult(base, project.source, {
        projectFile: shown,
        dependencies: project.dependencies,
        requiresPython: project.requiresPython,
        envId,
      });
    }
    return condaResult(base, project.source, {
      projectFile: shown,
      envName: project.envName,
      dependencies: project.dependencies,
      channels: project.channels,
      requiresPython: project.requiresPython,
      python: null,
      envId,
    });
  }

  if (preferences.preferredManager === 'conda') {
    return condaResult(base, 'conda:prewarmed', {
      dependencies: [],
      channels: [],
      requiresPython: null,
      python: null,
      envId: notebookEnvId,
    });
  }
  return uvResult(base, 'uv:prewarmed', {
    dependencies: [],
    requiresPython: null,
    envId: notebookEnvId,
  });
}
