// parseNotebookText: the same answers on and off the event loop, typed refusals for hostile JSON.
import { parseNotebookJson } from '@runyard/env-detection';
import { describe, expect, it } from 'vitest';
import { INLINE_PARSE_BYTES, MAX_JSON_VALUES, parseNotebookText } from './notebook-parse.js';

const padding = 'x'.repeat(INLINE_PARSE_BYTES);

function notebook(extra: Record<string, unknown>): string {
  return JSON.stringify({
    cells: [{ cell_type: 'markdown', source: padding, metadata: {} }],
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      uv: { dependencies: ['six'] },
      runyard: { env_id: 'e1' },
      widgets: { big: padding },
    },
    nbformat: 4,
    nbformat_minor: 5,
    ...extra,
  });
}

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (error: { code?: string }) => error.code ?? 'untyped',
  );
}

describe('parseNotebookText', () => {
  it('parses a large notebook off the loop to what the runtime reads (no cells)', async () => {
    const text = notebook({});
    expect(Buffer.byteLength(text)).toBeGreaterThan(INLINE_PARSE_BYTES);
    const parsed = await parseNotebookText(text);
    const direct = parseNotebookJson(text);
    expect(parsed.metadata.uv).toEqual(direct.metadata.uv);
    expect(parsed.metadata.kernelspec).toEqual(direct.metadata.kernelspec);
    expect(parsed.metadata.runyard).toEqual(direct.metadata.runyard);
    expect(parsed.cells).toEqual([]);
    expect(parsed.metadata).not.toHaveProperty('widgets');
  });

  it('answers the typed errors parseNotebookJson does, on both paths', async () => {
    expect(await code(parseNotebookText('{"cells": ['))).toBe('notebook_invalid');
    expect(await code(parseNotebookText(`${notebook({})}x`))).toBe('notebook_invalid');
    expect(await code(parseNotebookText(notebook({ metadata: 5 })))).toBe('notebook_invalid');
    expect(
      await code(parseNotebookText(notebook({ metadata: { uv: { dependencies: 'six' } } }))),
    ).toBe('notebook_invalid');
  });

  it('refuses more values than the limit before parsing them', async () => {
    const many = `{"cells": [${Array(MAX_JSON_VALUES + 1)
      .fill('[]')
      .join(',')}], "metadata": {}}`;
    expect(await code(parseNotebookText(many))).toBe('notebook_too_large');
    // Brackets inside strings are text, not values.
    const quoted = notebook({ note: '['.repeat(MAX_JSON_VALUES + 1) });
    expect(await code(parseNotebookText(quoted))).toBe('ok');
  });
});
