// `pnpm --filter @runyard/bench run markdown <results.json>`: a results file as the Markdown
// tables BENCHMARKS.md shows, so the document quotes a run rather than retyped numbers.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { MachineInfo } from './machine.js';
import type { Figure, Skipped } from './report.js';

interface Results {
  createdAt: string;
  machine: MachineInfo;
  load?: { before: number[]; after: number[]; durationS: number };
  smoke: boolean;
  figures: Figure[];
  skipped: Skipped[];
}

function num(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (value >= 1000) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function vsBaseline(f: Figure): string {
  if (f.ratio === undefined) return '';
  if (f.ratio < 1 && f.unit !== 'req/s') return `${num(1 / f.ratio)}× faster than ${f.baseline}`;
  return `${num(f.ratio)}× ${f.baseline}`;
}

function target(f: Figure): string {
  if (!f.target) return '';
  const what = f.target.of === 'median' ? `${f.target.value} ${f.unit}` : `${f.target.value}×`;
  const label = f.target.of === 'median' ? 'median' : f.target.of;
  return `${label} ${f.target.op === '<=' ? '≤' : '≥'} ${what}: **${f.met ? 'met' : 'missed'}**`;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: to-markdown <results.json>');
  process.exit(2);
}
const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
const m = results.machine;
console.log(
  `Run \`${basename(file)}\` (${results.smoke ? 'smoke' : 'full'}, ${results.createdAt}): ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, Python ${m.python}, ipykernel ${m.ipykernel}, jupyter_client ${m.jupyterClient}.`,
);
if (results.load) {
  console.log(
    `Load average (1/5/15 min) ${results.load.before.map((l) => l.toFixed(1)).join('/')} before and ${results.load.after.map((l) => l.toFixed(1)).join('/')} after the ${results.load.durationS} s run.`,
  );
}
console.log('');
console.log('| suite | figure | median | min – max | n | vs baseline (same run) | target |');
console.log('|---|---|---|---|---|---|---|');
for (const f of results.figures) {
  const s = f.summary;
  console.log(
    `| ${f.suite} | ${f.name.replaceAll('|', '\\|')} | ${num(s.median)} ${f.unit} | ${num(s.min)} – ${num(s.max)} | ${s.n} | ${vsBaseline(f)} | ${target(f)} |`,
  );
}
for (const skip of results.skipped) console.log(`\nSkipped (${skip.suite}): ${skip.reason}`);
