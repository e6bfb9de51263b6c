import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NotebookInput {
  uv?: unknown;
  conda?: unknown;
  condaChannels?: string[];
  runyard?: Record<string, unknown>;
  cells?: unknown[];
}

/** A minimal nbformat 4 notebook with inline dependency metadata. */
export function makeNotebook(input: NotebookInput = {}): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
  };
  if (input.uv !== undefined) metadata.uv = { dependencies: input.uv };
  if (input.conda !== undefined) {
    metadata.conda = {
      dependencies: input.conda,
      ...(input.condaChannels ? { channels: input.condaChannels } : {}),
    };
  }
  if (input.runyard) metadata.runyard = input.runyard;
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata,
    cells: input.cells ?? [
      {
        cell_type: 'code',
        source: 'import numpy',
        metadata: {},
        outputs: [],
        execution_count: null,
      },
    ],
  };
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `runyard-trust-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
