// `pnpm bench [--smoke] [--only <suite>]`: runs every benchmark in one process on one machine,
// prints a table and writes bench/results/<timestamp>.json with the machine's description.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './machine.js';
import { type Figure, printTable, type Skipped, writeResults } from './report.js';
import type { Suite, SuiteContext } from './suite.js';
import { floorSuite } from './suites/floor.js';

const suites: Suite[] = [floorSuite];

const { values } = parseArgs({
  allowPositionals: true,
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
  },
});

const temps: string[] = [];
const ctx: SuiteContext = {
  smoke: values.smoke ?? false,
  runs: (full, smoke = 2) => (values.smoke ? smoke : full),
  tempDir(label) {
    const dir = mkdtempSync(join(tmpdir(), `runyard-bench-${label}-`));
    temps.push(dir);
    return dir;
  },
};

const figures: Figure[] = [];
const skipped: Skipped[] = [];
let failed = false;
try {
  for (const suite of suites) {
    if (values.only && !values.only.includes(suite.name)) continue;
    console.error(`running ${suite.name}${ctx.smoke ? ' (smoke)' : ''}...`);
    try {
      const result = await suite.run(ctx);
      figures.push(...result.figures);
      skipped.push(...result.skipped);
    } catch (error) {
      failed = true;
      console.error(`suite ${suite.name} failed:`, error);
    }
  }
} finally {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
}

printTable(figures, skipped);
const file = writeResults(fileURLToPath(new URL('../results/', import.meta.url)), {
  machine: machineInfo(),
  smoke: ctx.smoke,
  figures,
  skipped,
});
console.log(`\nresults written to ${file}`);
process.exitCode = failed ? 1 : 0;
