import {
  type Ecosystem,
  type Notebook,
  parseNotebookJson,
  readInlineDependencies,
  toDependency,
} from '@runyard/env-detection';
import { setJsonPath } from './json-splice.js';

export interface NotebookDocument {
  /** The exact text; edits are spliced into it. */
  text: string;
  notebook: Notebook;
}

export function parseDocument(text: string): NotebookDocument {
  return { text, notebook: parseNotebookJson(text) };
}

/** A new nbformat 4.5 notebook, written the way Jupyter writes it (1-space indent). */
export function newNotebookText(options: {
  runtime: 'python' | 'deno';
  dependencies?: { manager: 'uv' | 'conda'; specs: string[] };
}): string {
  const metadata: Record<string, unknown> =
    options.runtime === 'deno'
      ? {
          kernelspec: { display_name: 'Deno', language: 'typescript', name: 'deno' },
          language_info: { name: 'typescript' },
        }
      : {
          kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
          language_info: { name: 'python' },
        };
  if (options.dependencies && options.dependencies.specs.length > 0) {
    metadata[options.dependencies.manager] = { dependencies: options.dependencies.specs };
  }
  return `${JSON.stringify({ cells: [], metadata, nbformat: 4, nbformat_minor: 5 }, null, 1)}\n`;
}

export interface DependencyEdit {
  add?: readonly string[];
  remove?: readonly string[];
}

/** Which inline section an edit goes to: the one the notebook uses, else the preferred manager. */
export function editableManager(notebook: Notebook, preferred: 'uv' | 'conda'): 'uv' | 'conda' {
  const inline = readInlineDependencies(notebook);
  if (inline.uv && inline.conda) return preferred;
  if (inline.conda) return 'conda';
  if (inline.uv) return 'uv';
  return preferred;
}

const ecosystemOf = (manager: 'uv' | 'conda'): Ecosystem => (manager === 'uv' ? 'pypi' : 'conda');

/**
 * Applies `add` (replacing an entry of the same package) and `remove` (by package name) to one
 * inline dependency section. Returns the new text, or `undefined` when nothing changed. Specs
 * are validated by the PEP 508 / conda grammar first, so nothing hostile reaches the file.
 */
export function editDependencies(
  document: NotebookDocument,
  manager: 'uv' | 'conda',
  edit: DependencyEdit,
): { text: string; added: string[] } | undefined {
  const ecosystem = ecosystemOf(manager);
  // Validates every existing entry too (a malformed one throws `invalid_dependency`).
  readInlineDependencies(document.notebook);
  const current = [...(document.notebook.metadata[manager]?.dependencies ?? [])];
  const nameOf = (spec: string) => toDependency(spec, ecosystem).name;
  const adds = (edit.add ?? []).map((spec) => toDependency(spec, ecosystem));
  const removes = new Set((edit.remove ?? []).map(nameOf));
  let next = current.filter((spec) => !removes.has(nameOf(spec)));
  const added: string[] = [];
  for (const dep of adds) {
    const index = next.findIndex((spec) => nameOf(spec) === dep.name);
    if (index >= 0) {
      if (next[index] === dep.spec) continue;
      next[index] = dep.spec;
    } else next = [...next, dep.spec];
    added.push(dep.spec);
  }
  if (next.length === current.length && next.every((spec, i) => spec === current[i]))
    return undefined;
  return { text: setJsonPath(document.text, ['metadata', manager, 'dependencies'], next), added };
}
