import { describe, expect, it } from 'vitest';
import { DECLARATION_PREFIXES, type DeclarationKind } from './declarations.js';
import type { ConfigBundleError } from './errors.js';
import { findForbiddenContent } from './forbidden-content.js';
import type { UnsealedConfigBundle } from './schema.js';
import { clone, sampleBundle } from './test-support/bundles.js';
import { expectCode } from './test-support/expect-code.js';
import { parseBundleJson, validateBundle } from './validate.js';

/** Seals after mutating, so only the mutation (not a stale digest) can fail validation. */
function validateMutated(mutate: (bundle: UnsealedConfigBundle) => void) {
  return () => validateBundle(sampleBundle(mutate));
}

/** Every way a failure could leak a value: message, JSON body, string form, stack. */
function expectNoEcho(error: ConfigBundleError, value: string): void {
  for (const text of [error.message, JSON.stringify(error), String(error), error.stack ?? '']) {
    expect(text).not.toContain(value);
  }
}

describe('validateBundle accepts', () => {
  it('a well-formed sealed bundle and returns it typed', () => {
    const bundle = sampleBundle();
    expect(validateBundle(clone(bundle))).toEqual(bundle);
  });

  it('every accepted prefix of every declaration kind', () => {
    for (const [kind, prefixes] of Object.entries(DECLARATION_PREFIXES)) {
      for (const prefix of prefixes) {
        const bundle = sampleBundle((b) => {
          b.declarations.push({
            kind: kind as DeclarationKind,
            name: `extra-${kind}`,
            reference: `${prefix}a.b:c_d@e+f-1`,
          });
        });
        expect(() => validateBundle(bundle)).not.toThrow();
      }
    }
  });

  it('ids that use the whole allowed alphabet', () => {
    for (const id of ['a', 'team:prod.bundle-1', 'A_b.c:d-e', '9'.repeat(128)]) {
      expect(
        validateBundle(
          sampleBundle((b) => {
            b.metadata.id = id;
          }),
        ).metadata.id,
      ).toBe(id);
    }
  });

  it('ordinary text that only resembles forbidden content', () => {
    const harmless = [
      'task-runner',
      'ask-questions',
      'Loading...',
      '... and more',
      'Socket server',
      'session handling',
      'https://github.com/org/repo',
      'git@github.com:org/repo.git',
      'author=someone',
      'runs python -m worker',
      'cache warmer',
      'ratio 1/2',
    ];
    for (const text of harmless) {
      expect(findForbiddenContent(text), text).toBeUndefined();
      expect(() =>
        validateMutated((b) => {
          b.profiles[1]!.label = text;
        })(),
      ).not.toThrow();
    }
  });
});

describe('validateBundle refuses forbidden content, naming the field but never the value', () => {
  const setters: Record<string, (b: UnsealedConfigBundle, value: string) => void> = {
    'profiles[1].label': (b, value) => {
      b.profiles[1]!.label = value;
    },
    'profiles[1].worker.argv[1]': (b, value) => {
      const worker = b.profiles[1]!.worker;
      if (worker.kind === 'command') worker.argv[1] = value;
    },
    'profiles[1].worker.cwd': (b, value) => {
      const worker = b.profiles[1]!.worker;
      if (worker.kind === 'command') worker.cwd = value;
    },
    'metadata.provenance.source': (b, value) => {
      b.metadata.provenance.source = value;
    },
    'metadata.provenance.detail': (b, value) => {
      b.metadata.provenance.detail = value;
    },
  };
  const cases: [value: string, field: string][] = [
    ['password=hunter2', 'profiles[1].label'],
    ['.cache/runyard', 'profiles[1].worker.argv[1]'],
    ['pods/foo/sock', 'profiles[1].worker.cwd'],
    ['pods/foo/sock', 'metadata.provenance.detail'],
    ['~/x', 'metadata.provenance.source'],
    ['~', 'profiles[1].worker.argv[1]'],
    ['/etc/passwd', 'profiles[1].worker.argv[1]'],
    ['/srv/agents', 'profiles[1].worker.cwd'],
    ['--config=/etc/passwd', 'profiles[1].worker.argv[1]'],
    ['../x', 'profiles[1].worker.cwd'],
    ['a/../../x', 'profiles[1].worker.cwd'],
    ['%2e%2e/x', 'profiles[1].label'],
    ['%2e%2e', 'profiles[1].worker.cwd'],
    ['%252e%252e%252fetc', 'profiles[1].label'],
    ['..\\windows', 'profiles[1].label'],
    ['C:\\Users\\me', 'profiles[1].label'],
    ['file:///etc/shadow', 'metadata.provenance.detail'],
    ['$HOME/.ssh/id_rsa', 'profiles[1].worker.argv[1]'],
    ['.ssh/id_ed25519', 'profiles[1].worker.argv[1]'],
    ['/var/run/docker.sock', 'profiles[1].worker.argv[1]'],
    ['docker.sock', 'profiles[1].label'],
    ['mnt/run/user/1000', 'profiles[1].worker.cwd'],
    ['data/sessions/abc', 'profiles[1].worker.cwd'],
    ['TOKEN=abc123', 'profiles[1].worker.argv[1]'],
    ['--api-key=abc123', 'profiles[1].worker.argv[1]'],
    ['https://user:pa55@example.com/x', 'metadata.provenance.detail'],
    ['ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789', 'profiles[1].label'],
    ['github_pat_11ABCDEFG0123456789_abcdefghijklmnop', 'profiles[1].label'],
    ['sk-proj-abcdefghijklmnopqrstuvwx', 'profiles[1].worker.argv[1]'],
    ['AKIAIOSFODNN7EXAMPLE', 'metadata.provenance.detail'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', 'metadata.provenance.detail'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl', 'profiles[1].label'],
    ['Bearer abcdefghijklmnop', 'profiles[1].worker.argv[1]'],
  ];

  it.each(cases)('%s in %s', (value, field) => {
    const error = expectCode(
      validateMutated((b) => setters[field]!(b, value)),
      'config_bundle_forbidden_content',
    );
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expectNoEcho(error, value);
  });

  it('in declaration names and selector values', () => {
    const named = expectCode(
      validateMutated((b) => {
        b.declarations[4]!.name = 'token=abc123';
      }),
      'config_bundle_forbidden_content',
    );
    expect(named.field).toBe('declarations[4].name');
    expectNoEcho(named, 'abc123');
    const selector = expectCode(
      validateMutated((b) => {
        b.profiles[1]!.selector.value = '..';
      }),
      'config_bundle_forbidden_content',
    );
    expect(selector.field).toBe('profiles[1].selector.value');
  });

  it('in declaration references', () => {
    const error = expectCode(
      validateMutated((b) => {
        b.declarations[0]!.reference = 'secret:ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345';
      }),
      'config_bundle_forbidden_content',
    );
    expect(error.field).toBe('declarations[0].reference');
    expectNoEcho(error, 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345');
  });

  it('without echoing a caller-chosen key in the field path', () => {
    const bundle = clone(sampleBundle()) as unknown as Record<string, Record<string, unknown>>;
    Object.assign(bundle.metadata!, { ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345: 'password=hunter2' });
    const error = expectCode(() => validateBundle(bundle), 'config_bundle_forbidden_content');
    expect(error.field).toBe('metadata.<unknown field>');
    expectNoEcho(error, 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345');
    expectNoEcho(error, 'hunter2');
  });
});

describe('validateBundle refuses bad ids', () => {
  it.each([
    'bundle/1?x',
    '../x',
    '%2e%2e',
    'a..b',
    '.hidden',
    '-leading',
    'a b',
    'a\tb',
    'a#b',
    'a&b',
    'a%20b',
    'é',
    '',
    'x'.repeat(129),
  ])('%j', (id) => {
    const error = expectCode(
      validateMutated((b) => {
        b.metadata.id = id;
      }),
      'invalid_bundle_id',
    );
    expect(error.field).toBe('metadata.id');
    if (id.length > 0) expectNoEcho(error, id);
  });

  it('a missing or non-string id', () => {
    const bundle = clone(sampleBundle()) as unknown as { metadata: Record<string, unknown> };
    bundle.metadata.id = 42;
    expectCode(() => validateBundle(bundle), 'invalid_bundle_id');
    delete bundle.metadata.id;
    expectCode(() => validateBundle(bundle), 'invalid_bundle_id');
  });
});

describe('validateBundle checks the digest', () => {
  it.each([
    [
      'any changed content',
      (b: Record<string, Record<string, unknown>>) => {
        b.metadata!.revision = 99;
      },
    ],
    [
      'an upper-case digest',
      (b: Record<string, Record<string, unknown>>) => {
        b.metadata!.digest = String(b.metadata!.digest).toUpperCase();
      },
    ],
    [
      'a short digest',
      (b: Record<string, Record<string, unknown>>) => {
        b.metadata!.digest = 'abc';
      },
    ],
    [
      'a missing digest',
      (b: Record<string, Record<string, unknown>>) => void delete b.metadata!.digest,
    ],
    [
      'a non-string digest',
      (b: Record<string, Record<string, unknown>>) => {
        b.metadata!.digest = 7;
      },
    ],
  ])('refuses %s', (_, tamper) => {
    const bundle = clone(sampleBundle()) as unknown as Record<string, Record<string, unknown>>;
    tamper(bundle);
    expectCode(() => validateBundle(bundle), 'config_bundle_digest_mismatch');
  });
});

describe('validateBundle refuses unsupported declarations', () => {
  it.each([
    ['an unknown kind', { kind: 'ssh_key', name: 'k', reference: 'secret:x' }],
    ['a prefix of another kind', { kind: 'secret_ref', name: 'k', reference: 'mount:x' }],
    ['a bare token', { kind: 'mount_grant', name: 'k', reference: 'data' }],
    ['an empty token', { kind: 'git_policy', name: 'k', reference: 'git:' }],
    ['a token with a slash', { kind: 'secret_ref', name: 'k', reference: 'vault:kv/x' }],
    ['a token with spaces', { kind: 'shell_policy', name: 'k', reference: 'shell:a b' }],
    [
      'a differently cased prefix',
      { kind: 'capability_grant', name: 'k', reference: 'Capability:x' },
    ],
    ['an inline value', { kind: 'secret_ref', name: 'k', reference: 'hunter2' }],
  ])('%s', (_, declaration) => {
    const error = expectCode(
      validateMutated((b) => {
        b.declarations.push(declaration as UnsealedConfigBundle['declarations'][number]);
      }),
      'unsupported_config_declaration',
    );
    expect(error.field).toMatch(/^declarations\[5\]\.(kind|reference)$/);
    expectNoEcho(error, declaration.reference);
  });
});

describe('validateBundle refuses inconsistent bundles', () => {
  it.each<[string, (b: UnsealedConfigBundle) => void]>([
    [
      'duplicate declaration names',
      (b) => {
        b.declarations[1]!.name = 'github';
      },
    ],
    ['duplicate profile selectors', (b) => void b.profiles.push(clone(b.profiles[1]!))],
    ['a grant naming no declaration', (b) => void b.profiles[1]!.grants.push('nothing')],
    ['a repeated grant', (b) => void b.profiles[1]!.grants.push('data')],
    [
      'an unknown builtin selector',
      (b) => {
        b.profiles[0]!.selector.value = 'ruby-kernel';
      },
    ],
    [
      'a builtin with the wrong worker',
      (b) => {
        b.profiles[0]!.worker = { kind: 'kernel', runtime: 'deno' };
      },
    ],
    ['an unknown top-level field', (b) => void Object.assign(b, { extra: 1 })],
    ['an unknown worker kind', (b) => void Object.assign(b.profiles[0]!.worker, { kind: 'vm' })],
    [
      'a non-RFC 3339 createdAt',
      (b) => {
        b.metadata.createdAt = '2025-02-30T00:00:00Z';
      },
    ],
    [
      'a createdAt without offset',
      (b) => {
        b.metadata.createdAt = '2025-01-01T00:00:00';
      },
    ],
    [
      'a negative revision',
      (b) => {
        b.metadata.revision = -1;
      },
    ],
    [
      'a fractional revision',
      (b) => {
        b.metadata.revision = 1.5;
      },
    ],
    ['an empty argv', (b) => void Object.assign(b.profiles[1]!.worker, { argv: [] })],
    [
      'a control character in a label',
      (b) => {
        b.profiles[1]!.label = 'a\u0000b';
      },
    ],
    [
      'an empty provenance source',
      (b) => {
        b.metadata.provenance.source = '';
      },
    ],
  ])('%s', (_, mutate) => {
    expectCode(validateMutated(mutate), 'invalid_bundle');
  });

  it('non-objects and non-JSON values', () => {
    for (const value of [null, 1, 'x', [], undefined, () => 1, new Map()]) {
      expectCode(() => validateBundle(value), 'invalid_bundle');
    }
    const withDate = clone(sampleBundle()) as unknown as { metadata: Record<string, unknown> };
    withDate.metadata.createdAt = new Date();
    expectCode(() => validateBundle(withDate), 'invalid_bundle');
    const withNaN = clone(sampleBundle()) as unknown as { metadata: Record<string, unknown> };
    withNaN.metadata.revision = Number.NaN;
    expectCode(() => validateBundle(withNaN), 'invalid_bundle');
  });

  it('a cycle without recursing forever', () => {
    const bundle = clone(sampleBundle()) as unknown as Record<string, unknown>;
    (bundle.metadata as Record<string, unknown>).provenance = bundle;
    expectCode(() => validateBundle(bundle), 'invalid_bundle');
  });

  it('an accessor property without calling it', () => {
    const bundle = clone(sampleBundle()) as unknown as Record<string, unknown>;
    let called = false;
    Object.defineProperty(bundle, 'profiles', {
      enumerable: true,
      get() {
        called = true;
        return [];
      },
    });
    expectCode(() => validateBundle(bundle), 'invalid_bundle');
    expect(called).toBe(false);
  });
});

describe('validateBundle refuses secret references that share an environment variable', () => {
  it.each(['secret:github.token', 'secret:GITHUB_TOKEN', 'secret-ref:github-token'])(
    '%s beside secret:github_token',
    (reference) => {
      const error = expectCode(
        validateMutated((b) => {
          b.declarations.push({ kind: 'secret_ref', name: 'other', reference });
        }),
        'invalid_bundle',
      );
      expect(error.field).toBe('declarations[5].reference');
      expect(error.message).toContain('RUNYARD_SECRET_GITHUB_TOKEN');
    },
  );

  it('but accepts secret: and secret-ref: aliases of one name, and unrelated names', () => {
    expect(() =>
      validateBundle(
        sampleBundle((b) => {
          b.declarations.push(
            { kind: 'secret_ref', name: 'alias', reference: 'secret-ref:github_token' },
            { kind: 'secret_ref', name: 'vault', reference: 'vault:github.token' },
            { kind: 'secret_ref', name: 'npm', reference: 'secret:npm_token' },
          );
        }),
      ),
    ).not.toThrow();
  });
});

describe('prototype pollution keys', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('%s in a parsed object', (key) => {
    const bundle = clone(sampleBundle()) as unknown as Record<string, unknown>;
    const hostile = JSON.parse(`{"${key}": {"polluted": true}}`) as Record<string, unknown>;
    Object.assign(bundle.metadata as object, { provenance: { source: 'x', ...hostile } });
    // A spread of JSON.parse output keeps `__proto__` as an own key only via defineProperty.
    Object.defineProperty(bundle.metadata, key, {
      value: { polluted: true },
      enumerable: true,
      configurable: true,
      writable: true,
    });
    const error = expectCode(() => validateBundle(bundle), 'invalid_bundle');
    expect(error.message).toContain(key);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'prototype'])('%s in raw JSON text', (key) => {
    const text = JSON.stringify(sampleBundle()).replace(
      '"metadata":{',
      `"metadata":{"${key}":{"polluted":true},`,
    );
    expectCode(() => parseBundleJson(text), 'invalid_bundle');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('escaped __proto__ in raw JSON text', () => {
    const text = JSON.stringify(sampleBundle()).replace(
      '"metadata":{',
      '"metadata":{"\\u005f_proto__":{"polluted":true},',
    );
    expectCode(() => parseBundleJson(text), 'invalid_bundle');
  });
});

describe('size limits', () => {
  it('refuses a 10 MB string in a bundle value', () => {
    const huge = 'a'.repeat(10 * 1024 * 1024);
    expectCode(
      () => validateBundle({ ...clone(sampleBundle()), extra: huge }),
      'config_bundle_too_large',
    );
    const error = expectCode(
      validateMutated((b) => {
        b.profiles[1]!.label = huge;
      }),
      'config_bundle_too_large',
    );
    expect(error.message.length).toBeLessThan(200);
  });

  it('refuses 10 MB of JSON text before parsing it', () => {
    const text = `{"metadata":{"id":"${'a'.repeat(10 * 1024 * 1024)}"}}`;
    expectCode(() => parseBundleJson(text), 'config_bundle_too_large');
    expectCode(() => parseBundleJson(Buffer.from(text)), 'config_bundle_too_large');
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 400k three-byte characters: under 1 MiB in UTF-16 code units, over it in UTF-8.
    const text = JSON.stringify({ metadata: { id: 'x' }, pad: '€'.repeat(400_000) });
    expect(text.length).toBeLessThan(1024 * 1024);
    expectCode(() => parseBundleJson(text), 'config_bundle_too_large');
  });

  it('refuses more than 256 profiles and 1024 declarations', () => {
    expectCode(
      validateMutated((b) => {
        for (let i = 0; i < 257; i += 1) {
          b.profiles.push({
            selector: { kind: 'named', value: `p${i}` },
            worker: { kind: 'kernel', runtime: 'python' },
            grants: [],
          });
        }
      }),
      'config_bundle_too_large',
    );
    expectCode(
      validateMutated((b) => {
        for (let i = 0; i < 1025; i += 1) {
          b.declarations.push({ kind: 'mount_grant', name: `m${i}`, reference: `mount:m${i}` });
        }
      }),
      'config_bundle_too_large',
    );
  });

  it('accepts exactly 256 profiles and 1024 declarations', () => {
    const bundle = sampleBundle((b) => {
      b.profiles = [];
      b.declarations = [];
      for (let i = 0; i < 256; i += 1) {
        b.profiles.push({
          selector: { kind: 'named', value: `p${i}` },
          worker: { kind: 'kernel', runtime: 'python' },
          grants: [],
        });
      }
      for (let i = 0; i < 1024; i += 1) {
        b.declarations.push({ kind: 'mount_grant', name: `m${i}`, reference: `mount:m${i}` });
      }
    });
    expect(validateBundle(bundle).profiles).toHaveLength(256);
  });
});

describe('parseBundleJson', () => {
  it('parses and validates pretty-printed JSON text and bytes', () => {
    const bundle = sampleBundle();
    expect(parseBundleJson(JSON.stringify(bundle, null, 2))).toEqual(bundle);
    expect(parseBundleJson(new TextEncoder().encode(JSON.stringify(bundle)))).toEqual(bundle);
  });

  it('refuses deeply nested JSON without exhausting the stack', () => {
    for (const text of [
      '['.repeat(100_000),
      `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
      `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
    ]) {
      const error = expectCode(() => parseBundleJson(text), 'invalid_bundle');
      expect(error.message).toMatch(/deeper than/);
    }
  });

  it('refuses deeply nested in-memory values', () => {
    let nested: unknown = 'leaf';
    for (let i = 0; i < 10_000; i += 1) nested = { detail: nested };
    expectCode(() => validateBundle({ ...clone(sampleBundle()), extra: nested }), 'invalid_bundle');
  });

  it('refuses duplicate keys, even when spelled with escapes', () => {
    const text = JSON.stringify(sampleBundle());
    const duplicated = text.replace('"revision":3', '"revision":3,"revision":4');
    expect(duplicated).not.toBe(text);
    const error = expectCode(() => parseBundleJson(duplicated), 'invalid_bundle');
    expect(error.message).toContain('duplicate');
    expectCode(
      () => parseBundleJson(text.replace('"revision":3', '"revision":3,"r\\u0065vision":3')),
      'invalid_bundle',
    );
  });

  it.each([
    ['empty text', ''],
    ['trailing data', '{} {}'],
    ['a trailing comma', '{"a":1,}'],
    ['single quotes', "{'a':1}"],
    ['a comment', '{/* x */}'],
    ['an unterminated string', '{"a":"b'],
    ['a raw control character', '{"a":"b\nc"}'],
    ['an invalid escape', '{"a":"\\x41"}'],
    ['a leading zero', '{"a":01}'],
    ['NaN', '{"a":NaN}'],
    ['an out-of-range number', '{"a":1e999}'],
    [
      'a lone surrogate',
      JSON.stringify({ ...clone(sampleBundle()), extra: '\\ud800' }).replace(
        '\\\\ud800',
        '\\ud800',
      ),
    ],
  ])('refuses %s', (_, text) => {
    const error = expectCode(() => parseBundleJson(text), 'invalid_bundle');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses invalid UTF-8 bytes', () => {
    expectCode(() => parseBundleJson(new Uint8Array([0x7b, 0xff, 0x7d])), 'invalid_bundle');
  });

  it('never quotes the text back in a syntax error', () => {
    const error = expectCode(
      () => parseBundleJson('{"password":"hunter2" oops}'),
      'invalid_bundle',
    );
    expectNoEcho(error, 'hunter2');
    expect(error.message).toMatch(/offset \d+/);
  });
});
