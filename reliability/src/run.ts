// `pnpm reliability [--smoke] [--only <part>] [--seed N]`: runs the reliability parts against a
// real `runyard serve` process, prints a markdown table and writes
// reliability/results/<timestamp>.{json,md}. Exit 1 when any row fails (a crash, a 5xx, a leak,
// lost or corrupt data); rows marked `finding` are known open issues and do not fail the run.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeAgent } from './http.js';
import { markdownTable, type PartResult, row, writeResults } from './report.js';

export interface Context {
  smoke: boolean;
  seed: number;
  /** Overrides of the run's size (a partial full run on a busy machine); unset: smoke or full. */
  sizes: {
    cases?: number;
    rounds?: number;
    durationS?: number;
    notebooks?: number;
    subscribers?: number;
  };
  tempDir(label: string): string;
}

type Part = { name: string; run: (ctx: Context) => Promise<PartResult> };

const parts: Part[] = [
  { name: 'fuzz', run: async (ctx) => (await import('./fuzz.js')).fuzzPart(ctx) },
  { name: 'crash', run: async (ctx) => (await import('./crash.js')).crashPart(ctx) },
  { name: 'soak', run: async (ctx) => (await import('./soak.js')).soakPart(ctx) },
  { name: 'disk', run: async (ctx) => (await import('./disk.js')).diskPart(ctx) },
];

const { values } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cases: { type: 'string' },
    rounds: { type: 'string' },
    'duration-s': { type: 'string' },
    notebooks: { type: 'string' },
    subscribers: { type: 'string' },
  },
});

const temps: string[] = [];
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const ctx: Context = {
  smoke: values.smoke ?? false,
  seed,
  sizes: {
    ...(values.cases ? { cases: Number(values.cases) } : {}),
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values['duration-s'] ? { durationS: Number(values['duration-s']) } : {}),
    ...(values.notebooks ? { notebooks: Number(values.notebooks) } : {}),
    ...(values.subscribers ? { subscribers: Number(values.subscribers) } : {}),
  },
  tempDir(label) {
    const dir = mkdtempSync(join(tmpdir(), `runyard-rel-${label}-`));
    temps.push(dir);
    return dir;
  },
};

const loadBefore = loadavg();
const started = Date.now();
const results: PartResult[] = [];
try {
  for (const part of parts) {
    if (values.only && !values.only.includes(part.name)) continue;
    console.error(`running ${part.name}${ctx.smoke ? ' (smoke)' : ''}, seed ${seed}...`);
    const partStart = Date.now();
    try {
      results.push(await part.run(ctx));
    } catch (error) {
      console.error(`part ${part.name} failed:`, error);
      results.push({
        part: part.name,
        rows: [
          row(
            part.name,
            'the part ran to the end',
            String((error as Error).message).slice(0, 300),
            'fail',
          ),
        ],
        examples: [],
      });
    }
    console.error(`  ${part.name} took ${Math.round((Date.now() - partStart) / 1000)} s`);
  }
} finally {
  closeAgent();
  if (!values.keep) for (const dir of temps) rmSync(dir, { recursive: true, force: true });
}

const rows = results.flatMap((r) => r.rows);
const load = {
  before: loadBefore,
  after: loadavg(),
  durationS: Math.round((Date.now() - started) / 1000),
};
const table = markdownTable(rows);
const sized = Object.keys(ctx.sizes).length > 0 ? ` (sizes ${JSON.stringify(ctx.sizes)})` : '';
const header = `${ctx.smoke ? 'smoke' : 'full'} run${sized}, parts ${results.map((r) => r.part).join(', ')}, seed ${seed}, ${load.durationS} s; load average before ${load.before.map((l) => l.toFixed(2)).join(' ')}, after ${load.after.map((l) => l.toFixed(2)).join(' ')}`;
console.log(`${header}\n\n${table}`);
const failed = rows.filter((r) => r.verdict === 'fail');
const examples = results.flatMap((r) =>
  r.examples.map((e) => `- ${r.part} ${e.kind}: ${e.detail}`),
);
if (examples.length > 0) console.log(`\nexamples:\n${examples.slice(0, 40).join('\n')}`);
const file = writeResults(
  fileURLToPath(new URL('../results/', import.meta.url)),
  { smoke: ctx.smoke, sizes: ctx.sizes, seed, load, results },
  `${header}\n\n${table}\n\n${examples.join('\n')}`,
);
console.log(`\nresults written to ${file}`);
if (failed.length > 0) console.log(`\n${failed.length} row(s) failed`);
process.exitCode = failed.length > 0 ? 1 : 0;
