// `pnpm bench [--smoke] [--only <suite>]`: runs every benchmark in one process on one machine,
// prints a table and writes bench/results/<timestamp>.json with the machine's description.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './machine.js';
import { type Figure, printTable, type Skipped, writeResults } from './report.js';
import type { Suite, SuiteContext } from './suite.js';
import { cliSuite } from './suites/cli.js';
import { floorSuite } from './suites/floor.js';
import { kernelsSuite } from './suites/kernels.js';
import { microSuite } from './suites/micro.js';
import { serverSuite } from './suites/server.js';

const suites: Suite[] = [floorSuite, kernelsSuite, microSuite, serverSuite, cliSuite];

const { values } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
  },
});

const temps: string[] = [];
const sharedResults = new Map<string, Promise<unknown>>();
const ctx: SuiteContext = {
  smoke: values.smoke ?? false,
  runs: (full, smoke = 2) => (values.smoke ? smoke : full),
  tempDir(label) {
    const dir = mkdtempSync(join(tmpdir(), `runyard-bench-${label}-`));
    temps.push(dir);
    return dir;
  },
  shared<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let result = sharedResults.get(key) as Promise<T> | undefined;
    if (!result) {
      result = compute();
      sharedResults.set(key, result);
    }
    return result;
  },
};

// The machine is shared: the load around the run says how far to trust the figures.
const loadBefore = loadavg();
const started = Date.now();
const figures: Figure[] = [];
const skipped: Skipped[] = [];
let failed = false;
try {
  for (const suite of suites) {
    if (values.only && !values.only.includes(suite.name)) continue;
    console.error(`running ${suite.name}${ctx.smoke ? ' (smoke)' : ''}...`);
    try {
      const result = await suite.run(ctx);
      // Suites sharing a baseline each return its figures; the table shows them once.
      for (const f of result.figures) if (!figures.includes(f)) figures.push(f);
      for (const s of result.skipped)
        if (!skipped.some((k) => k.suite === s.suite && k.reason === s.reason)) skipped.push(s);
    } catch (error) {
      failed = true;
      console.error(`suite ${suite.name} failed:`, error);
    }
  }
} finally {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
}

printTable(figures, skipped);
const load = {
  before: loadBefore,
  after: loadavg(),
  durationS: Math.round((Date.now() - started) / 1000),
};
console.log(
  `\nload average (1/5/15 min) before: ${load.before.map((l) => l.toFixed(2)).join(' ')}, after: ${load.after.map((l) => l.toFixed(2)).join(' ')}; ${load.durationS} s`,
);
const file = writeResults(fileURLToPath(new URL('../results/', import.meta.url)), {
  machine: machineInfo(),
  load,
  smoke: ctx.smoke,
  figures,
  skipped,
});
console.log(`\nresults written to ${file}`);
process.exitCode = failed ? 1 : 0;
