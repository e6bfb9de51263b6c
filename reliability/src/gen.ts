// Hostile input generators (fast-check). Each surface mixes values that follow its schema
// (so handlers past validation are reached) with values built to break parsers and handlers.
import fc from 'fast-check';

/** Strings an attacker would try: traversal, encodings, NUL, odd unicode, huge. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '../../../../etc/passwd',
      '..%2f..%2fetc%2fpasswd',
      '%2e%2e%2f%2e%2e%2f',
      '/etc/passwd',
      '/proc/self/environ',
      'a/../../b.ipynb',
      'nb.ipynb\u0000.txt',
      '\u0000',
      'C:\\Windows\\win.ini',
      '\\\\host\\share',
      '~/.ssh/id_rsa',
      '$HOME/x.ipynb',
      '%00',
      '%',
      '%%',
      '%zz',
      '/',
      '//',
      'x/y',
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      '\u202eevil.ipynb',
      '\ud800',
      '😀'.repeat(50),
      'a'.repeat(300),
      `${'a'.repeat(300)}.ipynb`,
      'file:///etc/passwd',
      'http://169.254.169.254/latest/meta-data/',
      'local',
      'sha256:0',
      `sha256:${'0'.repeat(64)}`,
      '0'.repeat(64),
      'six',
      'requests>=2',
      'pkg; python_version>"3"',
      'pkg @ file:///etc/passwd',
      '-e /etc',
      '--index-url=http://evil.example/',
      'pkg[extra]==1.0',
      "'; DROP TABLE trust; --",
      '<script>alert(1)</script>',
      '{{7*7}}',
      ['$', '{jndi:ldap://x}'].join(''),
      'true',
      'null',
      '-1',
      'NaN',
      '1e309',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('../', '..\\', '%2e%2e/', './', '/'), fc.integer({ min: 1, max: 40 }))
      .map(([part, n]) => `${part.repeat(n)}x.ipynb`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', '\u0000', 'é', '/', '.', '😀'),
        fc.integer({ min: 1_000, max: 200_000 }),
      )
      .map(([c, n]) => c.repeat(n)),
  },
);

/** Keys that pollute prototypes when merged naively. */
const hostileKey = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      '',
      '\u0000',
      'a.b',
      '$where',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 53, -(2 ** 63), 1e308, true, false, null),
);

/** Any JSON value with hostile leaves and keys, a few levels deep. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** JSON text nested `depth` levels deep (arrays or objects), as a parser-stack attack. */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Serialises a value, keeping `__proto__` as an own key (JSON.stringify would too, but only when it is own). */
export function toJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  additionalProperties?: boolean | JsonSchema;
}

/** A value of the schema's shape (so validation passes), with hostile strings inside. */
export function conforming(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return hostileValue;
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants && variants.length > 0)
    return fc.oneof(...variants.map((s) => conforming(s, depth + 1)));
  if (schema.allOf && schema.allOf.length > 0) return conforming(schema.allOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      const max = schema.maxLength ?? 200_000;
      const min = schema.minLength ?? 0;
      return hostileString.map((s) => (s.length > max ? s.slice(0, max) : s.padEnd(min, 'a')));
    }
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(conforming(schema.items, depth + 1), { maxLength: 4 });
    case 'object': {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, sub] of Object.entries(props)) record[key] = conforming(sub, depth + 1);
      const keys = Object.keys(props);
      return fc.record(record, { requiredKeys: keys.filter((k) => required.has(k)) });
    }
    default:
      return hostileValue;
  }
}

/** A conforming value with one field swapped for a wrong type or a pollution key added. */
export function mutated(schema: JsonSchema | undefined): fc.Arbitrary<unknown> {
  return fc
    .tuple(conforming(schema), hostileKey, hostileValue, fc.boolean())
    .map(([value, key, bad, replace]) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad;
      const keys = Object.keys(value);
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      if (replace && keys.length > 0) copy[keys[0] as string] = bad;
      else
        Object.defineProperty(copy, key, {
          value: bad,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return copy;
    });
}

/** Request body text: conforming, mutated, any JSON, malformed, deep, or oversized. */
export function bodyText(schema: JsonSchema | undefined): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: conforming(schema).map(toJson) },
    { weight: 4, arbitrary: mutated(schema).map(toJson) },
    { weight: 2, arbitrary: hostileValue.map(toJson) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '',
        '{',
        '{"a":',
        '{"a":1,}',
        '[1,2',
        'NaN',
        '{"__proto__":{"polluted":true}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
        '\ufeff{}',
        '{"a":"\\ud800"}',
        '{"a":1}{"b":2}',
        'null',
        '"str"',
        '12',
        '\u0000',
        '{"path":"x.ipynb","path":"../../y.ipynb"}',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 100, max: 200_000 }), fc.constantFrom('array', 'object'))
        .map(([depth, kind]) => deepJson(depth, kind as 'array' | 'object')),
    },
  );
}

/** Content types: the right one mostly, wrong or missing sometimes. */
export const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      '',
      'application/octet-stream',
    ),
  },
);

/** A path segment as sent on the wire: encoded, or raw with `/ % ..` left in. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: hostileString.map((s) => safeEncode(s.slice(0, 4000))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '..%2f..',
      '%2f',
      '%00',
      '%',
      'a%2Fb',
      '..;',
      '%252e%252e',
    ),
  },
);

/** encodeURIComponent, with lone surrogates (which it refuses) sent as raw percent bytes. */
export function safeEncode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return Buffer.from(text, 'utf8').toString('hex').replace(/../g, '%$&');
  }
}
