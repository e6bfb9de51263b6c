// The signed payload is built from cached per-dependency JSON; it must stay exactly the RFC 8785
// text of the normalised metadata, whatever the other keys of the sections hold.

import { parseNotebook } from '@runyard/env-detection';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readNotebookDependencies } from './dependencies.js';

const SPECS = ['numpy>=1.26', 'Pandas', 'requests[socks,security]==2.*', 'scipy<2,>=1.10'];
const CONDA = ['numpy=1.26', 'conda-forge::pandas', 'scipy >=1.10'];

const jsonValue = fc.jsonValue({ maxDepth: 2 });
const extraKeys = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'é', '\u{1F600}', 'a"b')),
  jsonValue,
  { maxKeys: 4 },
);

function notebook(metadata: Record<string, unknown>) {
  return { nbformat: 4, nbformat_minor: 5, metadata, cells: [] };
}

describe('readNotebookDependencies payload', () => {
  it('is canonical JSON holding the other keys verbatim and the dependencies sorted', () => {
    fc.assert(
      fc.property(
        fc.subarray(SPECS),
        fc.subarray(CONDA),
        extraKeys,
        extraKeys,
        fc.boolean(),
        (uvDeps, condaDeps, uvExtra, condaExtra, withConda) => {
          const uv = { ...uvExtra, dependencies: uvDeps };
          const conda = { ...condaExtra, dependencies: condaDeps };
          const metadata: Record<string, unknown> = { uv };
          if (withConda) metadata.conda = conda;
          const input = JSON.parse(JSON.stringify(notebook(metadata)));
          let read: ReturnType<typeof readNotebookDependencies>;
          try {
            read = readNotebookDependencies(input);
          } catch {
            return; // extra keys the notebook schema refuses (e.g. a non-string requires-python)
          }
          // What the notebook schema kept (it drops `__proto__` keys) is what must be signed.
          const parsed = parseNotebook(input).metadata as Record<string, Record<string, unknown>>;
          expect(canonicalize(JSON.parse(read.payload))).toBe(read.payload);
          const payload = JSON.parse(read.payload) as Record<string, Record<string, unknown>>;
          for (const name of withConda ? ['uv', 'conda'] : ['uv']) {
            const section = parsed[name] ?? {};
            const { dependencies, ...rest } = payload[name] ?? {};
            const { dependencies: given, ...expectedRest } = section;
            expect(rest).toEqual(expectedRest);
            const texts = (dependencies as unknown[]).map((d) => canonicalize(d) ?? '');
            expect(texts).toEqual([...texts].sort());
            expect(texts).toHaveLength((given as unknown[]).length);
          }
        },
      ),
    );
  });

  it('gives the same payload for the same metadata whether specs were cached or not', () => {
    const first = readNotebookDependencies(notebook({ uv: { dependencies: ['zzfresh>=1'] } }));
    const second = readNotebookDependencies(notebook({ uv: { dependencies: ['zzfresh>=1'] } }));
    expect(second.payload).toBe(first.payload);
    expect(second.dependencies).toEqual(first.dependencies);
    expect(second.dependencies[0]).not.toBe(first.dependencies[0]);
  });
});
