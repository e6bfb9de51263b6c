import { z } from 'zod';
import { EnvDetectionError } from './errors.js';

export const EcosystemSchema = z.enum(['pypi', 'conda']);
export type Ecosystem = z.infer<typeof EcosystemSchema>;

/** A dependency as every package sees it: normalised name, the spec exactly as written. */
export const DependencySchema = z.object({
  ecosystem: EcosystemSchema,
  name: z.string(),
  spec: z.string(),
});
export type Dependency = z.infer<typeof DependencySchema>;

/** Where a PEP 508 requirement's code comes from: an index, or a direct reference. */
export type RequirementSource = 'index' | 'url' | 'vcs' | 'path';

export interface Requirement {
  name: string;
  normalizedName: string;
  extras: string[];
  /** Version specifier without spaces, e.g. `>=1.2,<2`; empty when unconstrained. */
  specifier: string;
  marker?: string;
  url?: string;
  source: RequirementSource;
}

export interface CondaSpec {
  channel?: string;
  name: string;
  normalizedName: string;
  /** Everything after the name (version and build), trimmed; empty when unconstrained. */
  constraint: string;
}

/** Longest dependency string accepted; anything longer is hostile or a mistake. */
export const MAX_DEPENDENCY_LENGTH = 1024;

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/;
const VERSION_CLAUSE = /^(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9.*+!_-]+)$/;
const MARKER_VARIABLES = new Set([
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
]);

/** PEP 503: lowercase, and every run of `-`, `_`, `.` becomes a single `-`. */
export function normalizePackageName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** Conda names are case-insensitive but `-` and `_` are distinct packages, so only lowercase. */
export function normalizeCondaName(name: string): string {
  return name.toLowerCase();
}

function invalid(kind: string, reason: string): EnvDetectionError {
  return new EnvDetectionError('invalid_dependency', `invalid ${kind} dependency: ${reason}`);
}

function checkText(spec: unknown, kind: string): string {
  if (typeof spec !== 'string') throw invalid(kind, 'not a string');
  if (spec.length > MAX_DEPENDENCY_LENGTH) {
    throw invalid(kind, `longer than ${MAX_DEPENDENCY_LENGTH} characters`);
  }
  // Control characters (newlines, NUL, escapes) have no place in a requirement and are how
  // injection into a generated requirements file or command line would start.
  if (/[\u0000-\u001f\u007f]/.test(spec)) throw invalid(kind, 'contains control characters');
  const trimmed = spec.trim();
  if (trimmed === '') throw invalid(kind, 'empty');
  return trimmed;
}

function validateMarker(marker: string): void {
  const tokens = marker.match(/\s*("[^"]*"|'[^']*'|===|==|!=|<=|>=|~=|<|>|\(|\)|[A-Za-z_.]+|\S)/g);
  if (!tokens) throw invalid('pypi', 'empty environment marker');
  const list = tokens.map((token) => token.trim());
  let pos = 0;
  const peek = () => list[pos];
  const operand = () => {
    const token = list[pos++];
    if (token === undefined) throw invalid('pypi', 'incomplete environment marker');
    if (/^(".*"|'.*')$/.test(token)) return;
    if (MARKER_VARIABLES.has(token)) return;
    throw invalid('pypi', 'unknown name in environment marker');
  };
  const comparison = () => {
    if (peek() === '(') {
      pos++;
      expression();
      if (list[pos++] !== ')') throw invalid('pypi', 'unbalanced parentheses in marker');
      return;
    }
    operand();
    const op = list[pos++];
    if (op === 'not') {
      if (list[pos++] !== 'in') throw invalid('pypi', 'expected "in" after "not"');
    } else if (op === undefined || !/^(===|==|!=|<=|>=|~=|<|>|in)$/.test(op)) {
      throw invalid('pypi', 'expected a comparison in environment marker');
    }
    operand();
  };
  const expression = (): void => {
    comparison();
    while (peek() === 'and' || peek() === 'or') {
      pos++;
      comparison();
    }
  };
  expression();
  if (pos !== list.length) throw invalid('pypi', 'unexpected text in environment marker');
}

function classifyUrl(url: string): RequirementSource {
  if (/^(git|hg|svn|bzr)\+/i.test(url)) return 'vcs';
  if (/^file:/i.test(url)) return 'path';
  if (/^https?:\/\//i.test(url)) return 'url';
  throw invalid('pypi', 'direct reference must be an http(s), file: or VCS URL');
}

/**
 * Parses a PEP 508 requirement (`name[extras] specifier ; marker` or `name @ url ; marker`).
 * Anything outside the grammar, including shell-looking markers such as `numpy; rm -rf /`,
 * is refused with `invalid_dependency` rather than passed along.
 */
export function parseRequirement(spec: string): Requirement {
  const text = checkText(spec, 'pypi');
  const nameMatch = NAME.exec(text);
  if (!nameMatch) throw invalid('pypi', 'does not start with a package name');
  const name = nameMatch[0];
  let rest = text.slice(name.length).trimStart();

  let extras: string[] = [];
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw invalid('pypi', 'unclosed extras');
    extras = rest
      .slice(1, end)
      .split(',')
      .map((extra) => extra.trim())
      .filter((extra) => extra !== '');
    for (const extra of extras) {
      if (NAME.exec(extra)?.[0] !== extra) throw invalid('pypi', 'malformed extra');
    }
    rest = rest.slice(end + 1).trimStart();
  }

  let marker: string | undefined;
  const semicolon = rest.indexOf(';');
  let head = rest;
  if (semicolon >= 0) {
    marker = rest.slice(semicolon + 1).trim();
    head = rest.slice(0, semicolon).trim();
    validateMarker(marker);
  }

  let specifier = '';
  let url: string | undefined;
  let source: RequirementSource = 'index';
  if (head.startsWith('@')) {
    url = head.slice(1).trim();
    if (url === '' || /\s/.test(url)) throw invalid('pypi', 'malformed direct reference');
    source = classifyUrl(url);
  } else if (head !== '') {
    const inner = head.startsWith('(') && head.endsWith(')') ? head.slice(1, -1) : head;
    const clauses = inner.split(',').map((clause) => clause.trim());
    for (const clause of clauses) {
      const match = VERSION_CLAUSE.exec(clause);
      if (!match) throw invalid('pypi', 'malformed version specifier');
    }
    specifier = clauses.map((clause) => clause.replace(/\s+/g, '')).join(',');
  }

  return {
    name,
    normalizedName: normalizePackageName(name),
    extras,
    specifier,
    ...(marker !== undefined ? { marker } : {}),
    ...(url !== undefined ? { url } : {}),
    source,
  };
}

const CONDA_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*/;

/**
 * Parses a conda match spec: `name`, `name=1.2`, `name >=1.0 build`, `channel::name`,
 * `name[version='>=1']`. The channel may carry a subdir (`conda-forge/linux-64::name`).
 */
export function parseCondaSpec(spec: string): CondaSpec {
  const text = checkText(spec, 'conda');
  let rest = text;
  let channel: string | undefined;
  const sep = rest.indexOf('::');
  if (sep >= 0) {
    channel = rest.slice(0, sep);
    if (!/^[A-Za-z0-9_.:/-]+$/.test(channel)) throw invalid('conda', 'malformed channel');
    rest = rest.slice(sep + 2);
  }
  const nameMatch = CONDA_NAME.exec(rest);
  if (!nameMatch) throw invalid('conda', 'does not start with a package name');
  const name = nameMatch[0].replace(/[=<>!~.]+$/, '');
  const constraint = rest.slice(name.length).trim();
  if (constraint !== '' && !/^[A-Za-z0-9_.*+!=<>~,|\s[\]'"-]+$/.test(constraint)) {
    throw invalid('conda', 'malformed version or build');
  }
  return {
    ...(channel !== undefined ? { channel } : {}),
    name,
    normalizedName: normalizeCondaName(name),
    constraint,
  };
}

/**
 * Normalised names of specs already parsed, per ecosystem: a notebook's few specs are read on
 * every detection and trust check. Only valid specs are remembered (a bad one throws again),
 * and the cache is cleared when full.
 */
const NAME_CACHE_LIMIT = 4096;
const nameCache: Record<Ecosystem, Map<string, string>> = { pypi: new Map(), conda: new Map() };

/** Turns a dependency string of an ecosystem into the shared `{ ecosystem, name, spec }` shape. */
export function toDependency(spec: string, ecosystem: Ecosystem): Dependency {
  const cache = nameCache[ecosystem];
  let name = typeof spec === 'string' ? cache.get(spec) : undefined;
  if (name === undefined) {
    name =
      ecosystem === 'pypi'
        ? parseRequirement(spec).normalizedName
        : parseCondaSpec(spec).normalizedName;
    if (cache.size >= NAME_CACHE_LIMIT) cache.clear();
    cache.set(spec, name);
  }
  return { ecosystem, name, spec: spec.trim() };
}
