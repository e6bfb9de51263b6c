import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotebookErrorCode, notebookErrorStatus } from './errors.js';

describe('README error table', () => {
  it('lists every code with its status, and nothing else', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('## Tests'));
    const rows = [...section.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    const codes = Object.values(NotebookErrorCode);
    expect(rows.map(([code]) => code).sort()).toEqual([...codes].sort());
    for (const [code, status] of rows) {
      expect(notebookErrorStatus[code as NotebookErrorCode]).toBe(status);
    }
  });
});
