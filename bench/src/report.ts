import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './machine.js';
import { type Summary, summarize } from './stats.js';

export interface Target {
  /** What is compared: the figure's median itself, or its ratio to the baseline's median. */
  of: 'median' | 'ratio' | 'speedup';
  op: '<=' | '>=';
  value: number;
}

export interface Figure {
  suite: string;
  name: string;
  unit: 'ms' | 'µs' | 'req/s' | 'MiB' | 'count';
  summary: Summary;
  /** The name of the figure in the same run this one is compared with. */
  baseline?: string;
  /** median / baseline median. */
  ratio?: number;
  target?: Target;
  met?: boolean;
  note?: string;
}

export interface Skipped {
  suite: string;
  reason: string;
}

export function figure(
  suite: string,
  name: string,
  unit: Figure['unit'],
  samples: number[],
  extra: Partial<Pick<Figure, 'note' | 'target'>> = {},
): Figure {
  return { suite, name, unit, summary: summarize(samples), ...extra };
}

/** Sets ratio and target outcome of `subject` against `baseline`, both measured in this run. */
export function compare(subject: Figure, baseline: Figure | undefined, target?: Target): Figure {
  const result: Figure = { ...subject, ...(target ? { target } : {}) };
  if (baseline) {
    result.baseline = baseline.name;
    result.ratio = subject.summary.median / baseline.summary.median;
  }
  if (target) {
    const value =
      target.of === 'median'
        ? subject.summary.median
        : target.of === 'ratio'
          ? result.ratio
          : result.ratio === undefined
            ? undefined
            : 1 / result.ratio;
    if (value !== undefined)
      result.met = target.op === '<=' ? value <= target.value : value >= target.value;
  }
  return result;
}

function format(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (value >= 1000) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(3);
}

export function printTable(figures: Figure[], skipped: Skipped[]): void {
  const rows = figures.map((f) => [
    f.suite,
    f.name,
    `${format(f.summary.median)} ${f.unit}`,
    `${format(f.summary.min)}–${format(f.summary.max)}`,
    String(f.summary.n),
    f.ratio === undefined
      ? ''
      : f.ratio < 1 && f.unit !== 'req/s'
        ? `${format(1 / f.ratio)}× faster than ${f.baseline}`
        : `${format(f.ratio)}× ${f.baseline}`,
    f.target ? `${f.target.of} ${f.target.op} ${f.target.value}: ${f.met ? 'met' : 'MISSED'}` : '',
  ]);
  const header = ['suite', 'figure', 'median', 'min–max', 'n', 'vs baseline', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  for (const skip of skipped) console.log(`skipped ${skip.suite}: ${skip.reason}`);
}

export function writeResults(
  dir: string,
  payload: {
    machine: MachineInfo;
    load: { before: number[]; after: number[]; durationS: number };
    smoke: boolean;
    figures: Figure[];
    skipped: Skipped[];
  },
): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ createdAt: new Date().toISOString(), ...payload }, null, 2)}\n`,
  );
  return file;
}
