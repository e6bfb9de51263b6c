import { type Notebook, parseNotebookJson } from '@runyard/env-detection';

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
