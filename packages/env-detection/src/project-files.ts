import { parse as parseTomlText, TomlError } from 'smol-toml';
import { parse as parseYamlText, YAMLError } from 'yaml';
import { z } from 'zod';
import { parseChannel } from './channels.js';
import { type Dependency, type Ecosystem, toDependency } from './dependencies.js';
import { EnvDetectionError } from './errors.js';
import type { EnvWarning } from './warnings.js';

/** Largest project file read; real ones are a few KiB. */
export const MAX_PROJECT_FILE_BYTES = 1024 * 1024;
/** Most dependencies a project file may declare (all tables together). */
export const MAX_PROJECT_DEPENDENCIES = 1000;
/** Deepest flow/inline nesting accepted in TOML and YAML, far beyond any real project file. */
export const MAX_PROJECT_FILE_NESTING = 64;
/** Most YAML alias expansions (billion-laughs guard); real environment files use none. */
export const MAX_YAML_ALIASES = 100;

/** Python project files in the order they are checked within one directory. */
export const PYTHON_PROJECT_FILES = [
  'pyproject.toml',
  'pixi.toml',
  'environment.yml',
  'environment.yaml',
] as const;
export type PythonProjectFileName = (typeof PYTHON_PROJECT_FILES)[number];

/** Deno configuration files in the order they are checked within one directory. */
export const DENO_CONFIG_FILES = ['deno.json', 'deno.jsonc'] as const;

export type ProjectEnvSource = 'uv:pyproject' | 'pixi:toml' | 'conda:env_yml';

/** What a project file says about the environment it needs. */
export interface ProjectEnvironment {
  source: ProjectEnvSource;
  dependencies: Dependency[];
  channels: string[];
  requiresPython: string | null;
  /** `name` of an environment.yml; null otherwise. */
  envName: string | null;
  warnings: EnvWarning[];
}

function firstLine(message: string): string {
  const line = (message.split('\n')[0] ?? '')
    .replace(/^Invalid TOML document:\s*/, '')
    .replace(/\s+at line \d+, column \d+:?\s*$/, '')
    .replace(/[^\x20-\x7e]/g, '?');
  return line.length > 160 ? `${line.slice(0, 160)}...` : line;
}

function invalidFile(
  path: string,
  reason: string,
  position: { line?: number; column?: number } = {},
  cause?: unknown,
): EnvDetectionError {
  const at = position.line !== undefined ? ` at line ${position.line}` : '';
  return new EnvDetectionError('project_file_invalid', `${path}${at}: ${reason}`, {
    cause,
    details: { path, ...position },
  });
}

function checkSize(text: string, path: string): void {
  const size = Buffer.byteLength(text);
  if (size > MAX_PROJECT_FILE_BYTES) {
    throw invalidFile(path, `file is ${size} bytes; the limit is ${MAX_PROJECT_FILE_BYTES}`);
  }
}

/**
 * Refuses flow collections nested deeper than the limit before the YAML parser sees them: the
 * parser recurses per level, so a megabyte of `[` costs seconds and ends in a stack overflow.
 * Brackets inside quoted scalars or comments are not counted, so it never refuses a sane file.
 */
function checkYamlNesting(text: string, path: string): void {
  let depth = 0;
  let line = 1;
  let quote: '"' | "'" | null = null;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') {
      line++;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote !== null) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) comment = true;
    else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth > MAX_PROJECT_FILE_NESTING) {
        throw invalidFile(path, `nested deeper than ${MAX_PROJECT_FILE_NESTING} levels`, { line });
      }
    } else if ((ch === ']' || ch === '}') && depth > 0) depth--;
  }
}

function parseToml(text: string, path: string): unknown {
  checkSize(text, path);
  try {
    return parseTomlText(text, {
      maxDepth: MAX_PROJECT_FILE_NESTING,
      // `__proto__`/`constructor` keys never name anything Runyard reads; dropping them keeps
      // hostile files from reaching object prototypes.
      unsafeKeyBehaviour: 'drop',
    });
  } catch (error) {
    if (error instanceof TomlError) {
      throw invalidFile(
        path,
        `invalid TOML: ${firstLine(error.message)}`,
        { line: error.line, column: error.column },
        error,
      );
    }
    throw invalidFile(path, 'invalid TOML', {}, error);
  }
}

function parseYaml(text: string, path: string): unknown {
  checkSize(text, path);
  checkYamlNesting(text, path);
  try {
    return parseYamlText(text, {
      maxAliasCount: MAX_YAML_ALIASES,
      uniqueKeys: true,
      merge: false,
      prettyErrors: true,
      // Warnings would go to process.emitWarning with a snippet of the file; never log contents.
      logLevel: 'error',
    });
  } catch (error) {
    if (error instanceof YAMLError) {
      const pos = error.linePos?.[0];
      throw invalidFile(
        path,
        `invalid YAML: ${firstLine(error.message)}`,
        pos ? { line: pos.line, column: pos.col } : {},
        error,
      );
    }
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      throw invalidFile(path, `more than ${MAX_YAML_ALIASES} YAML alias expansions`, {}, error);
    }
    throw invalidFile(path, 'invalid YAML', {}, error);
  }
}

function validate<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`)
    .join('; ')
    // Keys in the path come from the file; keep them printable and short.
    .replace(/[^\x20-\x7e]/g, '?');
  throw invalidFile(path, issues.length > 300 ? `${issues.slice(0, 300)}...` : issues);
}

/** Runs `parse`, naming the project file in any EnvDetectionError it throws. */
function inFile<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof EnvDetectionError) {
      throw new EnvDetectionError(error.code, `${path}: ${error.message}`, {
        cause: error,
        details: { path },
      });
    }
    throw error;
  }
}

function dependency(spec: string, ecosystem: Ecosystem, path: string): Dependency {
  return inFile(path, () => toDependency(spec, ecosystem));
}

function channels(list: Array<string | { channel: string }> | undefined, path: string): string[] {
  return (list ?? []).map((entry) =>
    inFile(path, () => parseChannel(typeof entry === 'string' ? entry : entry.channel)),
  );
}

function checkCount(dependencies: Dependency[], path: string): Dependency[] {
  if (dependencies.length > MAX_PROJECT_DEPENDENCIES) {
    throw invalidFile(path, `more than ${MAX_PROJECT_DEPENDENCIES} dependencies`);
  }
  return dependencies;
}

const Spec = z.string().max(1024);
const SpecList = z.array(Spec).max(MAX_PROJECT_DEPENDENCIES);
const ChannelList = z.array(z.union([z.string(), z.looseObject({ channel: z.string() })])).max(64);

const PixiCondaValue = z.union([
  Spec,
  z.looseObject({
    version: Spec.optional(),
    build: Spec.optional(),
    channel: Spec.optional(),
    path: z.unknown().optional(),
    git: z.unknown().optional(),
    url: z.unknown().optional(),
  }),
]);
const PixiPypiValue = z.union([
  Spec,
  z.looseObject({
    version: Spec.optional(),
    extras: z.array(Spec).max(64).optional(),
    git: Spec.optional(),
    rev: Spec.optional(),
    tag: Spec.optional(),
    branch: Spec.optional(),
    url: Spec.optional(),
    path: z.unknown().optional(),
  }),
]);

const PixiManifestSchema = z.looseObject({
  project: z.looseObject({ channels: ChannelList.optional() }).optional(),
  workspace: z.looseObject({ channels: ChannelList.optional() }).optional(),
  dependencies: z.record(z.string(), PixiCondaValue).optional(),
  'pypi-dependencies': z.record(z.string(), PixiPypiValue).optional(),
});
type PixiManifest = z.infer<typeof PixiManifestSchema>;

const PyprojectSchema = z.looseObject({
  project: z
    .looseObject({
      dependencies: SpecList.optional(),
      'requires-python': z.string().max(256).optional(),
    })
    .optional(),
  tool: z.looseObject({ pixi: PixiManifestSchema.optional() }).optional(),
});

const EnvironmentYmlSchema = z.looseObject({
  name: z.string().max(256).nullish(),
  channels: z.array(z.string()).max(64).nullish(),
  dependencies: z
    .array(z.union([Spec, z.looseObject({ pip: SpecList.nullish() })]))
    .max(MAX_PROJECT_DEPENDENCIES)
    .nullish(),
});

const isAny = (version: string | undefined) =>
  version === undefined || version.trim() === '' || version.trim() === '*';

/** `[dependencies]` entry → conda match spec: `[channel::]name [version [build]]`. */
function pixiCondaSpec(
  name: string,
  value: z.infer<typeof PixiCondaValue>,
  path: string,
  warnings: EnvWarning[],
): Dependency | null {
  if (typeof value === 'string') {
    return dependency(isAny(value) ? name : `${name} ${value.trim()}`, 'conda', path);
  }
  if (value.path !== undefined || value.git !== undefined || value.url !== undefined) {
    warnings.push({
      code: 'dependency_skipped',
      message: `${path}: conda source dependency ${JSON.stringify(name.slice(0, 64))} (path/git/url) is not resolved by Runyard`,
    });
    return null;
  }
  const channel = value.channel !== undefined ? `${value.channel.trim()}::` : '';
  const version = isAny(value.version) ? '' : (value.version?.trim() ?? '');
  const build = value.build?.trim() ?? '';
  let spec = `${channel}${name}`;
  if (build !== '') spec += ` ${version || '*'} ${build}`;
  else if (version !== '') spec += ` ${version}`;
  return dependency(spec, 'conda', path);
}

/** `[pypi-dependencies]` entry → PEP 508 requirement. */
function pixiPypiSpec(
  name: string,
  value: z.infer<typeof PixiPypiValue>,
  path: string,
  warnings: EnvWarning[],
): Dependency | null {
  if (typeof value === 'string') {
    return dependency(isAny(value) ? name : `${name} ${value.trim()}`, 'pypi', path);
  }
  const extras = value.extras?.length ? `[${value.extras.join(',')}]` : '';
  if (value.path !== undefined) {
    warnings.push({
      code: 'dependency_skipped',
      message: `${path}: local path dependency ${JSON.stringify(name.slice(0, 64))} is not resolved by Runyard`,
    });
    return null;
  }
  if (value.git !== undefined) {
    const ref = value.rev ?? value.tag ?? value.branch;
    const url = `${value.git.startsWith('git+') ? '' : 'git+'}${value.git}${ref ? `@${ref}` : ''}`;
    return dependency(`${name}${extras} @ ${url}`, 'pypi', path);
  }
  if (value.url !== undefined) return dependency(`${name}${extras} @ ${value.url}`, 'pypi', path);
  return dependency(
    `${name}${extras}${isAny(value.version) ? '' : ` ${value.version?.trim()}`}`,
    'pypi',
    path,
  );
}

function readPixi(
  manifest: PixiManifest,
  extraPypi: string[],
  requiresPython: string | null,
  path: string,
): ProjectEnvironment {
  const warnings: EnvWarning[] = [];
  const dependencies: Dependency[] = [];
  for (const [name, value] of Object.entries(manifest.dependencies ?? {})) {
    const dep = pixiCondaSpec(name, value, path, warnings);
    if (dep) dependencies.push(dep);
  }
  for (const spec of extraPypi) dependencies.push(dependency(spec, 'pypi', path));
  for (const [name, value] of Object.entries(manifest['pypi-dependencies'] ?? {})) {
    const dep = pixiPypiSpec(name, value, path, warnings);
    if (dep) dependencies.push(dep);
  }
  return {
    source: 'pixi:toml',
    dependencies: checkCount(dependencies, path),
    channels: channels(manifest.workspace?.channels ?? manifest.project?.channels, path),
    requiresPython,
    envName: null,
    warnings,
  };
}

/**
 * `pyproject.toml`: `[project].dependencies` and `requires-python` (`uv:pyproject`), or, when it
 * has a `[tool.pixi]` table, a pixi manifest whose `[project].dependencies` are PyPI
 * dependencies alongside `[tool.pixi.dependencies]` (`pixi:toml`).
 */
export function parsePyproject(text: string, path = 'pyproject.toml'): ProjectEnvironment {
  const doc = validate(PyprojectSchema, parseToml(text, path), path);
  const requiresPython = doc.project?.['requires-python'] ?? null;
  const declared = doc.project?.dependencies ?? [];
  if (doc.tool?.pixi) return readPixi(doc.tool.pixi, declared, requiresPython, path);
  return {
    source: 'uv:pyproject',
    dependencies: checkCount(
      declared.map((spec) => dependency(spec, 'pypi', path)),
      path,
    ),
    channels: [],
    requiresPython,
    envName: null,
    warnings: [],
  };
}

/** `pixi.toml`: `[dependencies]`, `[pypi-dependencies]`, channels of `[workspace]`/`[project]`. */
export function parsePixiToml(text: string, path = 'pixi.toml'): ProjectEnvironment {
  const manifest = validate(PixiManifestSchema, parseToml(text, path), path);
  return readPixi(manifest, [], null, path);
}

/** `environment.yml`: `name`, `channels`, `dependencies` with the nested `pip:` list (PyPI). */
export function parseEnvironmentYml(text: string, path = 'environment.yml'): ProjectEnvironment {
  const doc = validate(EnvironmentYmlSchema, parseYaml(text, path), path);
  const warnings: EnvWarning[] = [];
  const dependencies: Dependency[] = [];
  for (const entry of doc.dependencies ?? []) {
    if (typeof entry === 'string') {
      dependencies.push(dependency(entry, 'conda', path));
      continue;
    }
    if (entry.pip === undefined) {
      warnings.push({
        code: 'dependency_skipped',
        message: `${path}: a dependencies entry that is neither a spec nor a pip: list was ignored`,
      });
      continue;
    }
    for (const spec of entry.pip ?? []) {
      // pip options (-r file, -e ., --index-url) configure pip rather than name a package.
      if (spec.trim().startsWith('-')) {
        warnings.push({
          code: 'dependency_skipped',
          message: `${path}: pip option ${JSON.stringify(firstLine(spec.trim().split(/\s/)[0] ?? ''))} is not supported and was ignored`,
        });
        continue;
      }
      dependencies.push(dependency(spec, 'pypi', path));
    }
  }
  return {
    source: 'conda:env_yml',
    dependencies: checkCount(dependencies, path),
    channels: channels(doc.channels ?? [], path),
    requiresPython: null,
    envName: doc.name ?? null,
    warnings,
  };
}

/** Parses a Python project file by its file name (`pyproject.toml`, `pixi.toml`, ...). */
export function parseProjectFile(
  fileName: PythonProjectFileName,
  text: string,
  path: string = fileName,
): ProjectEnvironment {
  switch (fileName) {
    case 'pyproject.toml':
      return parsePyproject(text, path);
    case 'pixi.toml':
      return parsePixiToml(text, path);
    case 'environment.yml':
    case 'environment.yaml':
      return parseEnvironmentYml(text, path);
  }
}
