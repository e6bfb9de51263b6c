import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Notebooks in every layout nteract (and older Runyard) writes dependencies in, written by this
 * project for its own tests (`fixtures/notebook-layouts/*.ipynb`). Each Python fixture that can
 * run imports its own tiny package (build it with `buildTinyWheel(dir, name)`).
 */
export const NOTEBOOK_LAYOUTS = {
  /** `metadata.runt.uv` only (today's nteract). Imports `runtpkg`. */
  'runt-only': { package: 'runtpkg' },
  /** Top-level `metadata.uv` only (older nteract, Runyard's own). Imports `legacypkg`. */
  'legacy-only': { package: 'legacypkg' },
  /** `runt.uv` (`bothpkg`) and top-level `uv` (`stalepkg`, ignored). Imports `bothpkg`. */
  both: { package: 'bothpkg' },
  /** PEP 723 block in the first code cell. Imports `pepfirst`. */
  'pep723-first': { package: 'pepfirst' },
  /** PEP 723 block in the third cell (a markdown cell shows a decoy block). Imports `peplater`. */
  'pep723-later': { package: 'peplater' },
  /** Blocks in cells 1 and 3: an error. */
  'pep723-duplicate': { package: null },
  /** A block in cell 2 whose TOML breaks at line 3 of the cell. */
  'pep723-malformed': { package: null },
  /** No kernelspec, `runt.deno`. */
  'runt-deno': { package: null },
  /** `runt.pixi`: conda `numpy>=1.26`, PyPI `pixipkg`, channel conda-forge. */
  'runt-pixi': { package: 'pixipkg' },
} as const;

export type NotebookLayout = keyof typeof NOTEBOOK_LAYOUTS;

/** The fixture's exact text. */
export function layoutFixture(layout: NotebookLayout): string {
  return readFileSync(
    join(import.meta.dirname, '..', 'fixtures', 'notebook-layouts', `${layout}.ipynb`),
    'utf8',
  );
}

/**
 * The same uv dependencies written in each layout, in a different order per layout: runt,
 * legacy top-level, both (runt wins over an ignored top-level section), PEP 723 in the first
 * cell, PEP 723 in a later cell (after a markdown cell showing a decoy block).
 */
export function uvLayouts(
  specs: readonly string[],
  requiresPython: string | undefined,
  seed: number,
): Record<'runt' | 'legacy' | 'both' | 'pep723First' | 'pep723Later', unknown> {
  const shuffled = (offset: number) =>
    specs.map((_, i) => specs[(i + seed + offset) % specs.length] as string);
  const section = (deps: string[]) => ({
    dependencies: deps,
    ...(requiresPython !== undefined ? { 'requires-python': requiresPython } : {}),
  });
  const pepCell = (deps: string[]) => ({
    cell_type: 'code',
    id: 'deps',
    metadata: {},
    outputs: [],
    source: [
      '# /// script\n',
      ...(requiresPython !== undefined
        ? [`# requires-python = ${JSON.stringify(requiresPython)}\n`]
        : []),
      '# dependencies = [\n',
      ...deps.map((d) => `#   ${JSON.stringify(d)},\n`),
      '# ]\n',
      '# ///',
    ],
  });
  const other = { cell_type: 'code', id: 'x', metadata: {}, outputs: [], source: ['x = 1'] };
  return {
    runt: { metadata: { runt: { uv: section(shuffled(0)) } }, cells: [other] },
    legacy: { metadata: { uv: section(shuffled(1)) }, cells: [other] },
    both: {
      metadata: { runt: { uv: section(shuffled(2)) }, uv: { dependencies: ['ignored-pkg'] } },
      cells: [],
    },
    pep723First: { metadata: {}, cells: [pepCell(shuffled(3)), other] },
    pep723Later: {
      metadata: {},
      cells: [
        other,
        { cell_type: 'markdown', source: ['# /// script\n', '# ///'] },
        pepCell(shuffled(4)),
      ],
    },
  };
}
