import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isCanonicalPrefix,
  pathAmbiguity,
  secretPathVerdict,
  withinPrefix,
} from './path-policy.js';
import { CROSSING_VECTORS } from './test-support/path-vectors.js';

// ---- Models of how upstreams read a path (deliberately lenient, as real servers are) ----

/** One round of percent-decoding; malformed escapes stay as they are; bytes → UTF-8, lossy. */
function decode(path: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const hex = path.slice(i + 1, i + 3);
    if (path[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(path[i] as string, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}
/** Old IIS / Java "modified UTF-8": overlong two-byte forms decode (`%c0%af` is `/`). */
function decodeOverlong(path: string): string {
  return path.replace(/%[cC][01]%([89abAB][0-9a-fA-F])/g, (_m, low: string, offset: number) => {
    const lead = path.slice(offset + 1, offset + 3);
    const code = ((Number.parseInt(lead, 16) & 0x1f) << 6) | (Number.parseInt(low, 16) & 0x3f);
    return String.fromCharCode(code);
  });
}
/** Tomcat/Spring: `;params` dropped from every segment. */
const stripParams = (path: string) => path.replace(/;[^/]*/g, '');
/** IIS, Windows, WHATWG for special schemes. */
const backslashes = (path: string) => path.replace(/\\/g, '/');
const collapseSlashes = (path: string) => path.replace(/\/{2,}/g, '/');
/** Windows trims trailing dots from a segment (`...` → `` , `a.` → `a`). */
const trimDots = (path: string) =>
  path
    .split('/')
    .map((s) => (/^\.+$/.test(s) ? (s.length >= 2 ? '..' : s) : s))
    .join('/');
const nfkc = (path: string) => path.normalize('NFKC');
const dropNul = (path: string) => path.split('\0')[0] as string;
/** RFC 3986 §5.2.4 remove_dot_segments. */
function removeDots(path: string): string {
  let input = path;
  const out: string[] = [];
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      out.pop();
    } else if (input === '/..') {
      input = '/';
      out.pop();
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', 1);
      const segment = next === -1 ? input : input.slice(0, next);
      out.push(segment);
      input = next === -1 ? '' : input.slice(next);
    }
  }
  return out.join('');
}

const STEPS = {
  decode,
  decodeOverlong,
  stripParams,
  backslashes,
  collapseSlashes,
  trimDots,
  nfkc,
  dropNul,
  removeDots,
} as const;
type Step = keyof typeof STEPS;
const STEP_NAMES = Object.keys(STEPS) as Step[];

const apply = (steps: readonly Step[], path: string) =>
  steps.reduce((p, step) => STEPS[step](p), path);

/** Where a request for `path` lands under a pipeline, compared with where the prefix lands. */
function landsInside(steps: readonly Step[], prefix: string, path: string): boolean {
  // Every reading ends in dot-segment removal: that is what a file system or router does last.
  const full = [...steps, 'removeDots'] as Step[];
  return withinPrefix(apply(full, prefix), apply(full, path));
}

const PREFIXES = ['/', '/allowed', '/allowed/', '/api/v1', '/repos/acme%20co/'];
const TOKENS = [
  'allowed',
  'other',
  'x',
  'v1.2',
  '',
  '.',
  '..',
  '...',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  ';',
  '..;',
  ';x=1',
  '%3b',
  '%25',
  '%252f',
  '%252e',
  '%00',
  '%20',
  '%C3%A9',
  '%c0%af',
  '%c0%ae',
  '%ef%bc%8e',
  '%ef%bc%8f',
  '%e2%80%a4',
  '．',
  '%',
  '%2',
  '?',
  '#',
  '/',
];

const pathsUnder = (prefix: string) =>
  fc
    .array(fc.constantFrom(...TOKENS), { maxLength: 8 })
    .map((tokens) => `${prefix.endsWith('/') ? prefix : `${prefix}/`}${tokens.join('')}`);

describe('secret path policy (pure)', () => {
  it('refuses every listed crossing vector, for each prefix reading', () => {
    for (const path of CROSSING_VECTORS) {
      expect(secretPathVerdict('/allowed', path), path).toMatchObject({
        ok: false,
        reason: 'ambiguous',
      });
    }
  });

  it('accepts ordinary paths inside the prefix, and says outside for ones that are not', () => {
    for (const path of [
      '/allowed',
      '/allowed/x',
      '/allowed/a%20b/%C3%A9t%C3%A9',
      '/allowed/v1.2',
    ]) {
      expect(secretPathVerdict('/allowed', path), path).toEqual({ ok: true });
    }
    for (const path of ['/other', '/allowedx', '/ALLOWED/x', '/%61llowed/x', '/']) {
      expect(secretPathVerdict('/allowed', path), path).toMatchObject({ ok: false });
    }
    expect(secretPathVerdict('/allowed', '/allowedx')).toMatchObject({ reason: 'outside' });
  });

  it('names a reason for each kind of ambiguity (fixed texts, never the path)', () => {
    expect(pathAmbiguity('allowed')).toBe('is not an absolute path');
    expect(pathAmbiguity('/a;b')).toMatch(/structure/);
    expect(pathAmbiguity('/a\\b')).toMatch(/structure/);
    expect(pathAmbiguity('/a b')).toMatch(/structure/);
    expect(pathAmbiguity('/é')).toMatch(/structure/);
    expect(pathAmbiguity('/a%zz')).toBe('has a malformed percent escape');
    expect(pathAmbiguity('/a%2fb')).toMatch(/encoded separator/);
    expect(pathAmbiguity('/a%c0%afb')).toMatch(/UTF-8/);
    expect(pathAmbiguity('/a/../b')).toBe('has dot segments');
    expect(pathAmbiguity('/a/.../b')).toBe('has dot segments');
    expect(pathAmbiguity('/a/%ef%bc%8e%ef%bc%8e/b')).toBe('has dot segments');
    expect(pathAmbiguity('/a%ef%bc%8fb')).toMatch(/normalise/);
    expect(pathAmbiguity('/a/b.c/%C3%A9')).toBeUndefined();
  });

  it('checks grant prefixes with the same rule', () => {
    expect(isCanonicalPrefix('/repos/acme%20co/')).toBe(true);
    for (const prefix of ['', 'api', '/a/../b', '/a;b', '/a%2fb', '/a\\b']) {
      expect(isCanonicalPrefix(prefix), prefix).toBe(false);
    }
  });

  it('sweep: an accepted path stays inside the prefix under every combination of normalisations', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc
          .constantFrom(...PREFIXES)
          .chain((prefix) => fc.tuple(fc.constant(prefix), pathsUnder(prefix))),
        fc.array(fc.constantFrom(...STEP_NAMES), { maxLength: 6 }),
        ([prefix, path], steps) => {
          if (!secretPathVerdict(prefix, path).ok) return true;
          accepted++;
          return landsInside(steps, prefix, path);
        },
      ),
      { numRuns: 20_000 },
    );
    // Not vacuous: plenty of generated paths were accepted and then checked.
    expect(accepted).toBeGreaterThan(500);
  });

  it('sweep: arbitrary strings are either refused or stay inside under every normalisation', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PREFIXES),
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.array(fc.constantFrom(...STEP_NAMES), { maxLength: 6 }),
        (prefix, tail, steps) => {
          const path = `${prefix}${tail}`;
          if (!secretPathVerdict(prefix, path).ok) return true;
          return landsInside(steps, prefix, path);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('the model pipelines do reach outside for the vectors (the sweep can fail)', () => {
    const escapes = (path: string) =>
      fc
        .sample(fc.array(fc.constantFrom(...STEP_NAMES), { maxLength: 6 }), 2_000)
        .some((steps) => !landsInside(steps, '/allowed', path));
    for (const path of CROSSING_VECTORS) expect(escapes(path), path).toBe(true);
  });
});
