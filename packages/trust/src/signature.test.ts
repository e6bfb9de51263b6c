import { describe, expect, it } from 'vitest';
import {
  readNotebookDependencies,
  signNotebookDependencies,
  TrustError,
  TrustKey,
  verifyNotebookDependencies,
} from './index.js';
import { makeNotebook } from './test-support/notebooks.js';

const key = TrustKey.fromBytes(Buffer.alloc(32, 1));
const otherMachine = TrustKey.fromBytes(Buffer.alloc(32, 2));
const fixedClock = () => new Date('2025-03-04T05:06:07.000Z');

type Meta = { runyard?: { trust_signature?: string; trust_timestamp?: string } };
const metaOf = (notebook: unknown) => (notebook as { metadata: Meta }).metadata;

function withSignature(notebook: Record<string, unknown>, signature: unknown) {
  const metadata = notebook.metadata as Record<string, unknown>;
  return { ...notebook, metadata: { ...metadata, runyard: { trust_signature: signature } } };
}

function resign(input: Parameters<typeof makeNotebook>[0], signature: string | undefined) {
  const notebook = makeNotebook(input);
  return withSignature(notebook, signature);
}

describe('signNotebookDependencies', () => {
  it('stores hmac-sha256:<hex> and an RFC 3339 timestamp without modifying the input', () => {
    const notebook = makeNotebook({ uv: ['numpy>=1.26', 'requests'] });
    const before = JSON.stringify(notebook);
    const signed = signNotebookDependencies(notebook, key, { now: fixedClock });
    expect(JSON.stringify(notebook)).toBe(before);
    const runyard = metaOf(signed).runyard!;
    expect(runyard.trust_signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(runyard.trust_timestamp).toBe('2025-03-04T05:06:07.000Z');
    expect(verifyNotebookDependencies(signed, key)).toBe('valid');
    // Other metadata survives.
    expect((signed.metadata as { kernelspec?: unknown }).kernelspec).toEqual(
      (notebook.metadata as { kernelspec?: unknown }).kernelspec,
    );
  });

  it('does not depend on dependency order or the case and separators of names', () => {
    const a = signNotebookDependencies(
      makeNotebook({
        uv: ['numpy>=1.26,<3', 'Requests[Socks,security]', 'typing_extensions'],
        conda: ['SciPy', 'pandas=2.2'],
      }),
      key,
    );
    const b = makeNotebook({
      uv: ['Typing.Extensions', 'requests[security,socks]', 'NumPy <3, >=1.26'],
      conda: ['pandas=2.2', 'scipy'],
    });
    const signature = metaOf(a).runyard!.trust_signature!;
    expect(verifyNotebookDependencies(withSignature(b, signature), key)).toBe('valid');
  });

  it('agrees with env hashing on what one dependency is (marker spacing and quotes, conda operators)', () => {
    const a = signNotebookDependencies(
      makeNotebook({ uv: ['requests; python_version<"3.9"'], conda: ['numpy >=1.2'] }),
      key,
    );
    const b = makeNotebook({
      uv: ["requests ;python_version  <  '3.9'"],
      conda: ['numpy >= 1.2'],
    });
    const signature = metaOf(a).runyard!.trust_signature!;
    expect(verifyNotebookDependencies(withSignature(b, signature), key)).toBe('valid');
    for (const [uvSpec, condaSpec] of [
      ['requests; python_version < "3.10"', 'numpy >=1.2'],
      ['requests; python_version<"3.9"', 'numpy >=1.3'],
    ] as const) {
      const changed = makeNotebook({ uv: [uvSpec], conda: [condaSpec] });
      expect(verifyNotebookDependencies(withSignature(changed, signature), key)).toBe('invalid');
    }
  });

  it('breaks on any change of a package, version, extra, marker, URL, channel or manager', () => {
    const base = {
      uv: ['numpy>=1.26', 'requests'],
      conda: ['scipy'],
      condaChannels: ['conda-forge'],
    };
    const signature = metaOf(signNotebookDependencies(makeNotebook(base), key)).runyard!
      .trust_signature!;
    expect(verifyNotebookDependencies(resign(base, signature), key)).toBe('valid');
    const changes: Parameters<typeof makeNotebook>[0][] = [
      { ...base, uv: ['numpy>=1.27', 'requests'] },
      { ...base, uv: ['numpy>=1.26', 'requests', 'pandas'] },
      { ...base, uv: ['numpy>=1.26'] },
      { ...base, uv: ['numpy>=1.26', 'requestz'] },
      { ...base, uv: ['numpy>=1.26', 'requests[socks]'] },
      { ...base, uv: ['numpy>=1.26', 'requests; python_version < "3.9"'] },
      { ...base, uv: ['numpy>=1.26', 'requests @ https://example.com/requests.whl'] },
      { ...base, conda: ['scipy=1.13'] },
      { ...base, conda: ['conda-forge::scipy'] },
      { ...base, condaChannels: ['defaults'] },
      { ...base, condaChannels: ['defaults', 'conda-forge'] },
      { uv: base.uv, conda: base.conda },
      { ...base, uv: base.conda, conda: base.uv },
    ];
    for (const change of changes) {
      expect(
        verifyNotebookDependencies(resign(change, signature), key),
        JSON.stringify(change),
      ).toBe('invalid');
    }
  });

  it('covers unknown keys of the dependency sections, not cells or outputs', () => {
    const notebook = makeNotebook({ uv: ['numpy'] });
    const signed = signNotebookDependencies(notebook, key);
    const signature = metaOf(signed).runyard!.trust_signature!;
    const editedCells = {
      ...signed,
      cells: [{ cell_type: 'code', source: 'import os; os.system("x")', outputs: [{ text: 'y' }] }],
    };
    expect(verifyNotebookDependencies(editedCells, key)).toBe('valid');
    const indexChanged = withSignature(
      {
        ...notebook,
        metadata: {
          ...(notebook.metadata as object),
          uv: { dependencies: ['numpy'], 'index-url': 'https://evil.example' },
        },
      },
      signature,
    );
    expect(verifyNotebookDependencies(indexChanged, key)).toBe('invalid');
    const requiresPython = withSignature(
      {
        ...notebook,
        metadata: {
          ...(notebook.metadata as object),
          uv: { dependencies: ['numpy'], 'requires-python': '>=3.12' },
        },
      },
      signature,
    );
    expect(verifyNotebookDependencies(requiresPython, key)).toBe('invalid');
  });

  it('never lets a __proto__ key reach what is signed or what is returned', () => {
    const text = (extra: string) =>
      `{"nbformat":4,"nbformat_minor":5,"cells":[],"metadata":{"uv":{"dependencies":["numpy"]${extra}}}}`;
    const polluted = JSON.parse(text(',"__proto__":{"index-url":"https://evil.example"}'));
    const signed = signNotebookDependencies(polluted, key);
    // The notebook parser drops the key, so nothing downstream can read it (not even through
    // an inherited property) and the signature covers exactly what is used.
    const uv = (signed.metadata as { uv: Record<string, unknown> }).uv;
    expect(uv['index-url']).toBeUndefined();
    expect(Object.getPrototypeOf(uv)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['index-url']).toBeUndefined();
    expect(verifyNotebookDependencies(signed, key)).toBe('valid');
  });
});

describe('verifyNotebookDependencies', () => {
  const notebook = makeNotebook({ uv: ['numpy', 'requests'] });
  const signed = signNotebookDependencies(notebook, key);
  const signature = metaOf(signed).runyard!.trust_signature!;

  it('reports missing, and invalid for a key from another machine', () => {
    expect(verifyNotebookDependencies(notebook, key)).toBe('missing');
    expect(verifyNotebookDependencies(signed, otherMachine)).toBe('invalid');
  });

  it('treats every tampered or malformed signature as invalid', () => {
    const hex = signature.slice('hmac-sha256:'.length);
    const flipped = `${hex.slice(0, 10)}${hex[10] === '0' ? '1' : '0'}${hex.slice(11)}`;
    const tampered = [
      `hmac-sha256:${flipped}`,
      `hmac-sha256:${hex.toUpperCase()}`,
      `hmac-sha256:${hex.slice(0, 63)}`,
      `hmac-sha256:${hex}0`,
      `hmac-sha512:${hex}`,
      `sha256:${hex}`,
      hex,
      '',
      ` ${signature}`,
      `${signature}\n`,
      `hmac-sha256:${'0'.repeat(64)}`,
      `hmac-sha256:${'a'.repeat(5_000_000)}`,
    ];
    for (const value of tampered) {
      expect(verifyNotebookDependencies(withSignature(notebook, value), key)).toBe('invalid');
    }
  });

  it('refuses a signature that is not a string with a typed error', () => {
    for (const value of [42, null, ['x'], { sig: signature }]) {
      expect(() => verifyNotebookDependencies(withSignature(notebook, value), key)).toThrowError(
        TrustError,
      );
    }
  });

  it('refuses keys of the wrong length', () => {
    expect(() => verifyNotebookDependencies(signed, new Uint8Array(16))).toThrowError(
      expect.objectContaining({ code: 'trust_key_invalid' }),
    );
    expect(() => signNotebookDependencies(notebook, new Uint8Array(33))).toThrowError(
      expect.objectContaining({ code: 'trust_key_invalid' }),
    );
  });
});

describe('readNotebookDependencies', () => {
  it('gives equal fingerprints for equal dependency sets and different ones otherwise', () => {
    const a = readNotebookDependencies(makeNotebook({ uv: ['a', 'B'] }));
    const b = readNotebookDependencies(makeNotebook({ uv: ['b', 'A'] }));
    const c = readNotebookDependencies(makeNotebook({ uv: ['a', 'b', 'c'] }));
    expect(a.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
  });
});
