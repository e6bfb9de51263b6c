import {
  type Ecosystem,
  normalizePackageName,
  parseCondaSpec,
  parseRequirement,
} from './dependencies.js';

/**
 * The one canonical form of a dependency, shared by env hashes (`canonicalDependency`) and
 * trust's signed payload, so "the same dependency" means the same thing to both.
 */
export type CanonicalDependencySpec =
  | {
      ecosystem: 'pypi';
      /** PEP 503 normalised. */
      name: string;
      /** Normalised, de-duplicated, sorted. */
      extras: string[];
      /** Clauses without whitespace, lower-cased, de-duplicated, sorted; empty with a URL. */
      specifier: string[];
      url?: string;
      /** Tokens separated by single spaces, string literals in double quotes. */
      marker?: string;
    }
  | {
      ecosystem: 'conda';
      name: string;
      channel?: string;
      /** Whitespace runs collapsed to one space, no space after an operator. */
      constraint: string;
    };

const MARKER_TOKEN = /\s*("[^"]*"|'[^']*'|===|==|!=|<=|>=|~=|<|>|\(|\)|[A-Za-z_.]+|\S)/g;

/** `python_version<'3.9'` and `python_version  <  "3.9"` → `python_version < "3.9"`. */
export function canonicalMarker(marker: string): string {
  const tokens = marker.match(MARKER_TOKEN) ?? [];
  return tokens
    .map((token) => token.trim())
    .map((token) =>
      token.startsWith("'") && !token.includes('"') ? `"${token.slice(1, -1)}"` : token,
    )
    .join(' ');
}

/** Version clauses as a set: `>=1, <2` and `<2,>=1` are the same. */
export function canonicalSpecifierClauses(specifier: string): string[] {
  return [...new Set(specifier.toLowerCase().replace(/\s+/g, '').split(','))]
    .filter((clause) => clause !== '')
    .sort();
}

/**
 * Parses `spec` in its ecosystem's grammar and returns its canonical form. So `NumPy>=1` and
 * `numpy >= 1` are the same dependency; `numpy>=2` is not. Throws `invalid_dependency` for a
 * spec outside the grammar.
 */
export function canonicalDependencySpec(
  spec: string,
  ecosystem: Ecosystem,
): CanonicalDependencySpec {
  if (ecosystem === 'pypi') {
    const req = parseRequirement(spec);
    return {
      ecosystem: 'pypi',
      name: req.normalizedName,
      extras: [...new Set(req.extras.map(normalizePackageName))].sort(),
      specifier: req.url !== undefined ? [] : canonicalSpecifierClauses(req.specifier),
      ...(req.url !== undefined ? { url: req.url } : {}),
      ...(req.marker !== undefined ? { marker: canonicalMarker(req.marker) } : {}),
    };
  }
  const parsed = parseCondaSpec(spec);
  return {
    ecosystem: 'conda',
    name: parsed.normalizedName,
    ...(parsed.channel !== undefined ? { channel: parsed.channel } : {}),
    constraint: parsed.constraint.replace(/\s+/g, ' ').replace(/([=<>!~]+) /g, '$1'),
  };
}
