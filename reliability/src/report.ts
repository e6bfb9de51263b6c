import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One figure of the report: a measured value and whether it meets the bar. */
export interface Row {
  part: string;
  measure: string;
  value: string;
  /** pass: meets the bar; fail: fails CI; finding: a known open issue, recorded, not hidden. */
  verdict: 'pass' | 'fail' | 'finding' | 'info';
  note?: string;
}

export interface PartResult {
  part: string;
  rows: Row[];
  /** Examples of each failure, for reproduction. */
  examples: { kind: string; detail: string }[];
  data?: unknown;
}

export function row(
  part: string,
  measure: string,
  value: string | number,
  verdict: Row['verdict'],
  note?: string,
): Row {
  return { part, measure, value: String(value), verdict, ...(note ? { note } : {}) };
}

export function markdownTable(rows: Row[]): string {
  const lines = ['| part | measure | value | verdict | note |', '|---|---|---|---|---|'];
  const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  for (const r of rows)
    lines.push(
      `| ${r.part} | ${cell(r.measure)} | ${cell(r.value)} | ${r.verdict} | ${cell(r.note ?? '')} |`,
    );
  return lines.join('\n');
}

export function writeResults(dir: string, result: unknown, markdown: string): string {
  const stamp = new Date().toISOString().replaceAll(':', '-').replaceAll('.', '-');
  const file = join(dir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${stamp}.md`), `${markdown}\n`);
  return file;
}
