import type { Figure, Skipped } from './report.js';

export interface SuiteContext {
  /** A short run for CI: fewer samples, smaller loads, never skipped silently. */
  smoke: boolean;
  /** Sample count: `full` normally, `smoke` under --smoke. */
  runs(full: number, smoke?: number): number;
  /** A fresh temp directory, removed after the run. */
  tempDir(label: string): string;
  /**
   * Computes `compute` once per run under `key` and hands every later caller the same result,
   * so a baseline several suites compare with is measured once.
   */
  shared<T>(key: string, compute: () => Promise<T>): Promise<T>;
}

export interface SuiteResult {
  figures: Figure[];
  skipped: Skipped[];
}

export interface Suite {
  name: string;
  run(ctx: SuiteContext): Promise<SuiteResult>;
}
