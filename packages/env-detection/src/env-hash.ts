import { createHash } from 'node:crypto';
import { canonicalDependencySpec, canonicalSpecifierClauses } from './canonical.js';
import { parseChannel } from './channels.js';
import type { Dependency } from './dependencies.js';

export interface UvEnvHashInput {
  dependencies: readonly Dependency[];
  requiresPython?: string | null;
  /** Per-notebook (or per-project) identity; only hashed when there are no dependencies. */
  envId?: string | null;
}

export interface CondaEnvHashInput extends UvEnvHashInput {
  channels?: readonly string[];
  python?: string | null;
}

function canonicalClauses(specifier: string): string {
  return canonicalSpecifierClauses(specifier).join(',');
}

/**
 * One dependency as the hash sees it, prefixed with its ecosystem:
 * - pypi: `pypi:` + normalised name + `[sorted, normalised extras]` + (` @ url` | sorted
 *   lowercase specifier clauses) + (`; ` + marker with single spaces and double quotes);
 * - conda: `conda:` + (`channel::`) + lowercased name + (` ` + constraint with whitespace runs
 *   collapsed and no space after an operator).
 * So `NumPy>=1` and `numpy >= 1` are the same dependency; `numpy>=2` is not.
 * Throws `invalid_dependency` for a spec outside the grammar.
 */
export function canonicalDependency(dependency: Dependency): string {
  const canonical = canonicalDependencySpec(dependency.spec, dependency.ecosystem);
  if (canonical.ecosystem === 'pypi') {
    let text = canonical.name;
    if (canonical.extras.length > 0) text += `[${canonical.extras.join(',')}]`;
    if (canonical.url !== undefined) text += ` @ ${canonical.url}`;
    else text += canonical.specifier.join(',');
    if (canonical.marker !== undefined) text += `; ${canonical.marker}`;
    return `pypi:${text}`;
  }
  const channel = canonical.channel !== undefined ? `${canonical.channel}::` : '';
  const { constraint } = canonical;
  return `conda:${channel}${canonical.name}${constraint ? ` ${constraint}` : ''}`;
}

function canonicalRequiresPython(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const text = canonicalClauses(value);
  return text === '' ? null : text;
}

function canonicalPython(value: string | null | undefined): string | null {
  const text = value?.replace(/\s+/g, '') ?? '';
  return text === '' ? null : text;
}

function sortedDependencies(dependencies: readonly Dependency[]): string[] {
  return [...new Set(dependencies.map(canonicalDependency))].sort();
}

/**
 * The exact text hashed for a uv environment: RFC 8785 canonical JSON (keys sorted, no
 * whitespace) of `{ dependencies, envId, format, requiresPython }`. Exported so the format can
 * be inspected and reproduced; see the package README for test vectors.
 */
export function uvEnvHashPayload(input: UvEnvHashInput): string {
  const dependencies = sortedDependencies(input.dependencies);
  return JSON.stringify({
    dependencies,
    envId: dependencies.length === 0 ? (input.envId ?? null) : null,
    format: 'runyard-uv-env/1',
    requiresPython: canonicalRequiresPython(input.requiresPython),
  });
}

/**
 * The exact text hashed for a conda (or pixi) environment: RFC 8785 canonical JSON of
 * `{ channels, dependencies, envId, format, python, requiresPython }`.
 */
export function condaEnvHashPayload(input: CondaEnvHashInput): string {
  const dependencies = sortedDependencies(input.dependencies);
  return JSON.stringify({
    channels: [...new Set((input.channels ?? []).map(parseChannel))].sort(),
    dependencies,
    envId: dependencies.length === 0 ? (input.envId ?? null) : null,
    format: 'runyard-conda-env/1',
    python: canonicalPython(input.python),
    requiresPython: canonicalRequiresPython(input.requiresPython),
  });
}

function digest(payload: string): string {
  return createHash('sha256').update(payload, 'utf8').digest('hex').slice(0, 16);
}

/**
 * Content hash of a uv environment: the first 16 lowercase hex characters of SHA-256 over
 * `uvEnvHashPayload(input)` in UTF-8. Notebooks with the same dependencies share one
 * environment; with no dependencies the `envId` keeps each notebook's environment its own.
 */
export function computeUvEnvHash(input: UvEnvHashInput): string {
  return digest(uvEnvHashPayload(input));
}

/** Content hash of a conda/pixi environment over `condaEnvHashPayload(input)`. */
export function computeCondaEnvHash(input: CondaEnvHashInput): string {
  return digest(condaEnvHashPayload(input));
}
