import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DELIMITER, parse, serialize, sign, verifySignature } from './wire.js';

const key = 'a'.repeat(64);

describe('wire', () => {
  it('round-trips a signed message with identities and buffers', () => {
    const { header, frames } = serialize(
      {
        msgType: 'execute_request',
        content: { code: '1+1' },
        session: 's',
        identities: [Buffer.from('id1')],
        buffers: [Buffer.from([1, 2, 3])],
      },
      key,
    );
    expect(frames[1]?.toString()).toBe(DELIMITER);
    const parsed = parse(frames, key);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.message.header.msg_id).toBe(header.msg_id);
    expect(parsed.message.header.version).toBe('5.3');
    expect(parsed.message.identities.map(String)).toEqual(['id1']);
    expect(parsed.message.content).toEqual({ code: '1+1' });
    expect(parsed.message.buffers).toEqual([Buffer.from([1, 2, 3])]);
  });

  it('rejects tampered content, a wrong key and a truncated signature', () => {
    const { frames } = serialize(
      { msgType: 'status', content: { execution_state: 'idle' }, session: 's' },
      key,
    );
    const tampered = [...frames];
    tampered[5] = Buffer.from(JSON.stringify({ execution_state: 'busy' }));
    expect(parse(tampered, key)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(parse(frames, 'b'.repeat(64))).toEqual({ ok: false, reason: 'bad_signature' });
    const truncated = [...frames];
    truncated[1] = (frames[1] as Buffer).subarray(0, 10);
    expect(parse(truncated, key)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects malformed frames and hostile JSON without throwing', () => {
    expect(parse([Buffer.from('no delimiter')], key)).toEqual({ ok: false, reason: 'malformed' });
    const parts = ['{', '{}', '{}', '{}'].map((p) => Buffer.from(p));
    const frames = [Buffer.from(DELIMITER), Buffer.from(sign(key, parts)), ...parts];
    expect(parse(frames, key)).toEqual({ ok: false, reason: 'malformed' });
    const arrayContent = ['{"msg_id":"x","msg_type":"y"}', '{}', '{}', '[]'].map((p) =>
      Buffer.from(p),
    );
    expect(
      parse([Buffer.from(DELIMITER), Buffer.from(sign(key, arrayContent)), ...arrayContent], key),
    ).toEqual({
      ok: false,
      reason: 'malformed',
    });
    const proto = [
      '{"msg_id":"x","msg_type":"y"}',
      '{}',
      '{}',
      '{"__proto__":{"polluted":true}}',
    ].map((p) => Buffer.from(p));
    const parsed = parse([Buffer.from(DELIMITER), Buffer.from(sign(key, proto)), ...proto], key);
    expect(parsed.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an empty key means unsigned messages only', () => {
    const { frames } = serialize({ msgType: 'x', content: {}, session: 's' }, '');
    expect(frames[1]?.length).toBe(0);
    expect(parse(frames, '').ok).toBe(true);
    expect(verifySignature('', Buffer.from('abc'), [])).toBe(false);
  });

  it('any single-byte change to a signed frame is rejected (property)', () => {
    const { frames } = serialize(
      { msgType: 'stream', content: { name: 'stdout', text: 'hello' }, session: 's' },
      key,
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (index, pos, delta) => {
          const copy = frames.map((f) => Buffer.from(f));
          const frame = copy[index] as Buffer;
          const at = pos % frame.length;
          frame[at] = ((frame[at] as number) + delta) % 256;
          expect(parse(copy, key).ok).toBe(false);
        },
      ),
    );
  });
});
