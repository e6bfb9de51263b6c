import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectIndent, replaceJsonValue, setJsonPath, setNotebookMetadata } from './json-splice.js';

describe('setJsonPath', () => {
  it('replaces one value and leaves every other byte alone', () => {
    const text =
      '{\n "a": 1.0,\n "metadata": {\n  "uv": {"dependencies": ["x"], "k": 2.50}\n },\n "z": "\\u00e9"\n}\n';
    const out = setJsonPath(text, ['metadata', 'uv', 'dependencies'], ['x', 'y']);
    expect(out).toBe(
      '{\n "a": 1.0,\n "metadata": {\n  "uv": {"dependencies": [\n    "x",\n    "y"\n   ], "k": 2.50}\n },\n "z": "\\u00e9"\n}\n',
    );
  });

  it('inserts missing members with the document indent, or compactly', () => {
    expect(setNotebookMetadata('{"cells":[],"metadata":{}}', 'uv', { dependencies: [] })).toBe(
      '{"cells":[],"metadata":{"uv":{"dependencies":[]}}}',
    );
    expect(setNotebookMetadata('{\n\t"cells": []\n}', 'runyard', { s: 'v' })).toBe(
      '{\n\t"cells": [],\n\t"metadata": {\n\t\t"runyard": {\n\t\t\t"s": "v"\n\t\t}\n\t}\n}',
    );
    expect(setNotebookMetadata('{\n "metadata": {}\n}', 'k', 1)).toBe(
      '{\n "metadata": {\n  "k": 1\n }\n}',
    );
  });

  it('replaces a non-object in the way, and the last of duplicate keys (as JSON.parse reads it)', () => {
    expect(setJsonPath('{"metadata": null}', ['metadata', 'uv', 'd'], [1])).toBe(
      '{"metadata": {"uv":{"d":[1]}}}',
    );
    const dup = setJsonPath('{"m": 1, "m": 2}', ['m'], 3);
    expect(dup).toBe('{"m": 1, "m": 3}');
    expect(JSON.parse(dup)).toEqual({ m: 3 });
  });

  it('handles strings with braces, quotes and escapes', () => {
    const text = '{"s": "}{\\"]", "metadata": {"t": "\\\\"}}';
    expect(JSON.parse(setNotebookMetadata(text, 't', 'x'))).toEqual({
      s: '}{"]',
      metadata: { t: 'x' },
    });
  });

  it('property: the result parses to the edited value and keeps the bytes before it', () => {
    const key = fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== '__proto__');
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.jsonValue({ maxDepth: 3 })),
        fc.dictionary(key, fc.jsonValue({ maxDepth: 2 })),
        key,
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom(undefined, ' ', '  ', '\t'),
        (root, metadata, name, value, indent) => {
          const doc = { ...root, metadata };
          const text =
            indent === undefined ? JSON.stringify(doc) : JSON.stringify(doc, null, indent);
          const out = setNotebookMetadata(text, name, value);
          const expected = JSON.parse(text);
          // JSON has no -0: compare what a round trip keeps.
          expected.metadata[name] = JSON.parse(JSON.stringify(value));
          expect(JSON.parse(out)).toEqual(expected);
          if (indent !== undefined) expect(detectIndent(out)).toBe(indent);
          // Everything before the metadata object is byte-identical.
          const head = text.slice(0, text.indexOf('"metadata"'));
          expect(out.startsWith(head)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('replaceJsonValue', () => {
  it('replaces one array element, every other byte kept', () => {
    const text =
      '{\n "cells": [\n  {"source": ["a\\n", "b"], "x": 1.0},\n  {"source": "c"}\n ],\n "m": {}\n}\n';
    const out = replaceJsonValue(text, ['cells', 0, 'source'], ['z']);
    expect(JSON.parse(out).cells[0].source).toEqual(['z']);
    expect(out).toContain('"x": 1.0');
    expect(out.replace(/\[\n\s*"z"\n\s*\]/, '["a\\n", "b"]')).toBe(text);
    expect(JSON.parse(replaceJsonValue(text, ['cells', 1, 'source'], 'd')).cells[1].source).toBe(
      'd',
    );
  });

  it('refuses a path that does not exist instead of creating it', () => {
    expect(() => replaceJsonValue('{"cells": []}', ['cells', 0, 'source'], 'x')).toThrow(
      SyntaxError,
    );
    expect(() => replaceJsonValue('{"cells": [{}]}', ['cells', 0, 'source'], 'x')).toThrow(
      SyntaxError,
    );
  });
});
