import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, StreamRedactor } from './redact.js';

function run(secrets: string[], chunks: string[]): string[] {
  const redactor = new StreamRedactor(secrets);
  const out = chunks.map((chunk) => redactor.push(chunk));
  out.push(redactor.flush());
  return out;
}

describe('StreamRedactor', () => {
  it('redacts values inside a chunk and across chunk boundaries', () => {
    expect(run(['hunter22'], ['pw=hunter22!']).join('')).toBe(`pw=${REDACTED}!`);
    const pieces = run(['hunter22'], ['pw=hun', 'te', 'r22 ok']);
    expect(pieces.join('')).toBe(`pw=${REDACTED} ok`);
    expect(pieces.some((p) => p.includes('hun'))).toBe(false);
  });

  it('emits text that cannot start a secret at once', () => {
    const redactor = new StreamRedactor(['abcdef']);
    expect(redactor.push('hello ab')).toBe('hello ');
    expect(redactor.push('x')).toBe('abx');
  });

  it('prefers the longest secret and ignores values too short to redact', () => {
    expect(run(['token', 'token-long-1'], ['a token-long-1 b']).join('')).toBe(`a ${REDACTED} b`);
    expect(run(['ab'], ['ab cd']).join('')).toBe('ab cd');
  });

  it('property: no chunking lets a secret through, and nothing else changes', () => {
    const secretArb = fc
      .string({ minLength: 4, maxLength: 12 })
      .filter((s) => !s.includes(REDACTED));
    fc.assert(
      fc.property(
        secretArb,
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 6 }),
        (secret, fillers, cuts) => {
          const text = fillers.join(secret);
          const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort(
            (a, b) => a - b,
          );
          const chunks: string[] = [];
          let last = 0;
          for (const point of points) {
            chunks.push(text.slice(last, point));
            last = point;
          }
          chunks.push(text.slice(last));
          const out = run([secret], chunks);
          const redactor = new StreamRedactor([secret]);
          expect(out.join('')).toBe(redactor.redact(text));
          for (const piece of out) expect(piece.includes(secret)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
