import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRedactor, encodedForms, redactJsonValue } from './redact.js';
import { createRedactingTransform } from './redact-transform.js';

const GH = `ghp_${'a1B2c3D4e5'.repeat(4).slice(0, 36)}`;
const JWT =
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';

describe('createRedactor', () => {
  it('replaces known values longest first and ignores values under 8 chars', () => {
    const r = createRedactor({
      secrets: { SHORT: 'abc', TOKEN: 'supersecret', LONGER: 'supersecret-extended' },
    });
    expect(r.redact('a supersecret-extended b supersecret c abc')).toBe(
      'a [REDACTED:LONGER] b [REDACTED:TOKEN] c abc',
    );
    expect(r.names).toEqual(['TOKEN', 'LONGER']);
  });

  it('treats regex metacharacters in values literally', () => {
    const r = createRedactor({ secrets: { WEIRD: 'a.b*c+(d)[e]$^|' } });
    expect(r.redact('x a.b*c+(d)[e]$^| y aXbbbc')).toBe('x [REDACTED:WEIRD] y aXbbbc');
  });

  it('redacts well-known token patterns', () => {
    const r = createRedactor({ secrets: {} });
    const cases: [string, string][] = [
      [GH, 'github_token'],
      [`gho_${'x'.repeat(36)}`, 'github_token'],
      [`ghs_${'Y'.repeat(36)}`, 'github_token'],
      [`github_pat_11ABCDEFG0_${'z'.repeat(59)}`, 'github_token'],
      [`sk-proj-${'q'.repeat(40)}`, 'openai_key'],
      [`sk-ant-api03-${'w'.repeat(40)}`, 'anthropic_key'],
      ['AKIAIOSFODNN7EXAMPLE', 'aws_access_key'],
      [`AIza${'S'.repeat(35)}`, 'google_api_key'],
      ['xoxb-123456789012-abcdefghij', 'slack_token'],
      ['xoxp-123456789012-abcdefghij', 'slack_token'],
      [JWT, 'jwt'],
    ];
    for (const [token, name] of cases) {
      expect(r.redact(`before ${token} after`)).toBe(`before [REDACTED:${name}] after`);
    }
    expect(r.redact('clone https://alice:s3cr3t@example.com/repo.git now')).toBe(
      'clone https://[REDACTED:url_credentials]@example.com/repo.git now',
    );
    // Near misses stay: a word merely containing `sk-`, a bare email, a URL without password.
    const plain = 'task-123456789012345678901234 bob@example.com https://example.com/a@b';
    expect(r.redact(plain)).toBe(plain);
  });

  it('catches base64, url-encoded and JSON-escaped forms of a value', () => {
    const secret = 'p@ss/w+rd"quoted"value';
    const r = createRedactor({ secrets: { PW: secret } });
    for (const prefix of ['', 'u:', 'us:', 'use:']) {
      const b64 = Buffer.from(`${prefix}${secret}`).toString('base64');
      expect(r.redact(`Basic ${b64}`)).toContain('[REDACTED:PW]');
    }
    expect(r.redact(`q=${encodeURIComponent(secret)}`)).toBe('q=[REDACTED:PW]');
    expect(r.redact(JSON.stringify({ v: secret }))).toBe('{"v":"[REDACTED:PW]"}');
    expect(encodedForms(secret)).not.toContain(secret);
  });

  it('redacts strings and keys inside JSON-like values, safely', () => {
    const r = createRedactor({ secrets: { K: 'topsecretvalue' } });
    const cyclic: Record<string, unknown> = { a: 'topsecretvalue' };
    cyclic.self = cyclic;
    const input = JSON.parse(
      '{"__proto__": {"polluted": "topsecretvalue"}, "topsecretvalue": [1, "x topsecretvalue", null, true]}',
    );
    const out = r.redactValue({ input, cyclic, err: new Error('bad topsecretvalue') }) as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(out)).not.toContain('topsecretvalue');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((out.input as Record<string, unknown>)['[REDACTED:K]']).toEqual([
      1,
      'x [REDACTED:K]',
      null,
      true,
    ]);
    expect((out.cyclic as Record<string, unknown>).self).toBe('[Circular]');
    expect(out.err).toEqual({ name: 'Error', message: 'bad [REDACTED:K]' });
    expect(redactJsonValue(42, (s) => s)).toBe(42);
  });
});

describe('stream redaction', () => {
  const secrets = {
    ALPHA: 'alpha-secret-1',
    BETA: 'beta secret with spaces',
    GAMMA: 'gam:ma@pw99',
  };

  function streamAll(chunks: string[]): string {
    const s = createRedactor({ secrets }).createStreamRedactor();
    return chunks.map((c) => s.write(c)).join('') + s.end();
  }

  it('catches a value split across chunk boundaries at every split point', () => {
    const text = `x alpha-secret-1 y beta secret with spaces z ${GH} w`;
    const whole = createRedactor({ secrets }).redact(text);
    expect(whole).not.toContain('alpha-secret-1');
    for (let i = 0; i <= text.length; i++) {
      for (const j of [i, Math.min(text.length, i + 3), Math.min(text.length, i + 17)]) {
        expect(streamAll([text.slice(0, i), text.slice(i, j), text.slice(j)])).toBe(whole);
      }
    }
  });

  it('emits text progressively instead of holding everything', () => {
    const s = createRedactor({ secrets }).createStreamRedactor();
    const text = 'hello world\nsecond line\n'.repeat(4);
    const first = s.write(text);
    expect(first.length).toBeGreaterThan(0);
    expect(`${first}${s.end()}`).toBe(text);
  });

  it('equals whole-text redaction for any chunking (property)', () => {
    const word = fc.oneof(
      fc.constantFrom(...Object.values(secrets), GH, JWT, 'https://u:p@h', 'AKIAIOSFODNN7EXAMPLE'),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(word, fc.constantFrom('', ' ', '\n', 'x')), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, cutsRaw) => {
          const text = parts.map(([w, sep]) => w + sep).join('');
          const cuts = [...new Set(cutsRaw.map((c) => c % (text.length + 1)))].sort(
            (a, b) => a - b,
          );
          const chunks: string[] = [];
          let at = 0;
          for (const c of cuts) {
            chunks.push(text.slice(at, c));
            at = c;
          }
          chunks.push(text.slice(at));
          expect(streamAll(chunks)).toBe(createRedactor({ secrets }).redact(text));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('flushes a long run without whitespace but never splits a known value', () => {
    const s = createRedactor({ secrets }).createStreamRedactor();
    let out = '';
    for (let i = 0; i < 40; i++)
      out += s.write(`${'z'.repeat(997)}alpha-secret-1`.slice(0, 1000 + (i % 11)));
    out += s.write('alpha-sec');
    out += s.write('ret-1');
    out += s.end();
    expect(out).not.toContain('alpha-secret-1');
    expect(out.endsWith('[REDACTED:ALPHA]')).toBe(true);
  });

  it('redacts a byte stream without splitting UTF-8 characters', async () => {
    const r = createRedactor({ secrets: { U: 'ünïcødé-sêcret' } });
    const bytes = Buffer.from('å ünïcødé-sêcret ø\n');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    const out: string[] = [];
    for await (const c of Readable.from(chunks).pipe(createRedactingTransform(r)))
      out.push(String(c));
    expect(out.join('')).toBe('å [REDACTED:U] ø\n');
  });
});

describe('issue 15 finding 7: one redaction stream over interleaved sources', () => {
  const SECRET = 'hunter2-very-secret-value';
  const TOKEN = `ghp_${'A1b2C3d4'.repeat(5)}`;
  const redactor = createRedactor({ secrets: { API: SECRET } });

  it('attack: a value split across stdout and stderr, and a token across three writes, never leak', () => {
    const merged = redactor.createMergedStreamRedactor<'stdout' | 'stderr'>();
    const out = [
      ...merged.write('stdout', `log: ${SECRET.slice(0, 9)}`),
      ...merged.write('stderr', `${SECRET.slice(9)} and `),
      ...merged.write('stdout', TOKEN.slice(0, 10)),
      ...merged.write('stdout', TOKEN.slice(10, 25)),
      ...merged.write('stdout', `${TOKEN.slice(25)} done\n`),
      ...merged.end(),
    ];
    const text = out.map((piece) => piece.text).join('');
    expect(text).toBe('log: [REDACTED:API] and [REDACTED:github_token] done\n');
    // The redacted value is attributed to the source it started in; order is kept.
    expect(out.find((piece) => piece.text.includes('[REDACTED:API]'))?.label).toBe('stdout');
    expect(out.find((piece) => piece.text.startsWith(' and'))?.label).toBe('stderr');
  });

  it('never emits a secret whatever the split points and labels (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 8 }),
        (before, after, cuts) => {
          const text = `${before} ${SECRET} ${after} ${TOKEN}`;
          const points = [...new Set(cuts.map(([n]) => n % (text.length + 1)))].sort(
            (a, b) => a - b,
          );
          const merged = redactor.createMergedStreamRedactor<'a' | 'b'>();
          const pieces: { label: 'a' | 'b'; text: string }[] = [];
          let at = 0;
          points.forEach((point, i) => {
            pieces.push(...merged.write(cuts[i]?.[1] ? 'a' : 'b', text.slice(at, point)));
            at = point;
          });
          pieces.push(...merged.write('a', text.slice(at)), ...merged.end());
          const joined = pieces.map((piece) => piece.text).join('');
          expect(joined).not.toContain(SECRET);
          expect(joined).not.toContain(TOKEN);
          expect(joined).toBe(redactor.redact(text));
        },
      ),
      { numRuns: 300 },
    );
  });
});
