// Dependency edits that keep the notebook's own layout. nteract reads `metadata.runt` first and
// the top-level keys only as a fallback, so an edit written at the top level of a notebook whose
// dependencies live under `runt` would be invisible to it (and to Runyard, which reads the same
// way). A PEP 723 block is the declaration of a notebook that has one: the edit rewrites the
// block's `dependencies` array inside its cell, or is refused — never a second declaration
// that contradicts the first. Pure: text in, text out.
import {
  type Ecosystem,
  findScriptBlocks,
  type InlineManager,
  type Notebook,
  type Pep723Block,
  parsePep723Block,
  readInlineDependencies,
  toDependency,
} from '@runyard/env-detection';
import { RuntimeError } from '@runyard/runtime-registry';
import { replaceJsonValue, setJsonPath } from './json-splice.js';
import { type NotebookDocument, parseDocument } from './notebook-file.js';

export interface DependencyEdit {
  add?: readonly string[];
  remove?: readonly string[];
}

/** Where an edit is written. */
export type EditTarget =
  | { kind: 'metadata'; manager: InlineManager; path: readonly string[] }
  | { kind: 'pep723'; block: Pep723Block };

const ecosystemOf = (manager: InlineManager): Ecosystem => (manager === 'uv' ? 'pypi' : 'conda');

/**
 * The declaration an edit goes to: the one the notebook uses (the preferred manager's when it
 * declares several), where it is written — `metadata.runt.<manager>`, the top-level
 * `metadata.<manager>`, or a PEP 723 block. A notebook that declares nothing gets a new
 * section of the preferred manager: under `metadata.runt` when the notebook has that namespace
 * (a `runt.<manager>` object there, even without a list, would hide a top-level section from
 * nteract and from Runyard), else at the top level, as Runyard creates notebooks.
 */
export function dependencyEditTarget(notebook: Notebook, preferred: 'uv' | 'conda'): EditTarget {
  const inline = readInlineDependencies(notebook);
  const declared = (['uv', 'conda', 'pixi'] as const).filter((m) => inline[m] !== undefined);
  const manager = declared.includes(preferred) ? preferred : declared[0];
  if (manager !== undefined) {
    if (manager === 'uv' && inline.pep723 && inline.uv?.declaredIn.startsWith('cells['))
      return { kind: 'pep723', block: inline.pep723.block };
    const where = inline[manager]?.declaredIn ?? `metadata.${manager}`;
    return { kind: 'metadata', manager, path: [...where.split('.'), 'dependencies'] };
  }
  const namespace = notebook.metadata.runt ? ['metadata', 'runt'] : ['metadata'];
  return { kind: 'metadata', manager: preferred, path: [...namespace, preferred, 'dependencies'] };
}

/**
 * Applies `add` (replacing an entry of the same package) and `remove` (by package name) to a
 * list. Returns the new list and the specs added, or undefined when nothing changed. Every spec
 * is validated by its ecosystem's grammar first.
 */
export function applyEdit(
  current: readonly string[],
  ecosystem: Ecosystem,
  edit: DependencyEdit,
): { next: string[]; added: string[] } | undefined {
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
  return { next, added };
}

function valueAt(notebook: Notebook, path: readonly string[]): unknown {
  let value: unknown = notebook;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function unsupported(block: Pep723Block, why: string): RuntimeError {
  const cell = block.cellId ? `cell ${block.cell} (id ${block.cellId})` : `cell ${block.cell}`;
  return new RuntimeError(
    'dependency_edit_unsupported',
    `This notebook declares its dependencies in the PEP 723 # /// script block of ${cell}, and ${why}. Edit the block's dependencies array in that cell directly, or delete the block and add the dependencies again to declare them in the notebook metadata instead.`,
  );
}

/**
 * Edits one declaration, keeping the notebook's layout. Returns the new text, the specs added
 * and where the edit went (a path into the notebook), or undefined when nothing changed.
 * Throws `invalid_dependency` (env-detection) for a spec outside the grammar, and
 * `dependency_edit_unsupported` for a PEP 723 block it cannot rewrite safely.
 */
export function editDependencies(
  document: NotebookDocument,
  preferred: 'uv' | 'conda',
  edit: DependencyEdit,
): { text: string; added: string[]; declaredIn: string } | undefined {
  // Validates every existing entry too (a malformed one throws `invalid_dependency`).
  const target = dependencyEditTarget(document.notebook, preferred);
  if (target.kind === 'pep723') return editPep723(document, target.block, edit);

  const ecosystem = ecosystemOf(target.manager);
  const current = valueAt(document.notebook, target.path);
  const list = Array.isArray(current) ? (current as string[]) : [];
  const changed = applyEdit(list, ecosystem, edit);
  let text = document.text;
  let added: string[] = [];
  if (changed) {
    text = setJsonPath(text, target.path, changed.next);
    added = changed.added;
  }
  if (target.manager === 'pixi' && (edit.remove?.length ?? 0) > 0) {
    // A pixi section also lists PyPI packages; removing a name removes it from both lists.
    const pypiPath = [...target.path.slice(0, -1), 'pypi_dependencies'];
    const pypi = valueAt(document.notebook, pypiPath);
    const removed = Array.isArray(pypi)
      ? applyEdit(pypi as string[], 'pypi', { remove: edit.remove ?? [] })
      : undefined;
    if (removed) text = setJsonPath(text, pypiPath, removed.next);
  }
  if (text === document.text) return undefined;
  return { text, added, declaredIn: target.path.slice(0, -1).join('.') };
}

function editPep723(
  document: NotebookDocument,
  block: Pep723Block,
  edit: DependencyEdit,
): { text: string; added: string[]; declaredIn: string } | undefined {
  const before = parsePep723Block(block);
  const changed = applyEdit(before.dependencies, 'pypi', edit);
  if (!changed) return undefined;
  const cell = document.notebook.cells?.[block.cellIndex] as { source: string | string[] };
  const source = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
  const rewritten = rewritePep723Dependencies(source, block, changed.next);
  if (rewritten === undefined)
    throw unsupported(block, 'its dependencies array is written in a form Runyard cannot rewrite');
  // Proof before writing: the new cell holds one block declaring exactly the new list, and
  // everything else the block said (requires-python) is unchanged.
  const blocks = findScriptBlocks(rewritten);
  const [only] = blocks;
  let after: ReturnType<typeof parsePep723Block> | undefined;
  try {
    after = only && blocks.length === 1 ? parsePep723Block({ ...block, ...only }) : undefined;
  } catch {
    after = undefined;
  }
  if (
    !after ||
    after.requiresPython !== before.requiresPython ||
    after.dependencies.length !== changed.next.length ||
    after.dependencies.some((spec, i) => spec !== changed.next[i])
  )
    throw unsupported(block, 'rewriting its dependencies array would change more than the list');
  const value = Array.isArray(cell.source) ? sourceLines(rewritten) : rewritten;
  const text = replaceJsonValue(document.text, ['cells', block.cellIndex, 'source'], value);
  // The spliced document must read back as the same notebook with the new block.
  parseDocument(text);
  return { text, added: changed.added, declaredIn: `cells[${block.cellIndex}].source` };
}

/** nbformat's list form of a source: each line keeps its line ending. */
function sourceLines(source: string): string[] {
  return source.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** Index just past the `[...]` value starting at `text[start] === '['`, or -1. */
function arrayEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      for (; j < text.length; j++) {
        if (c === '"' && text[j] === '\\') j++;
        else if (text.startsWith(close, j)) break;
        else if (!triple && text[j] === '\n') return -1;
      }
      if (j >= text.length) return -1;
      i = j + close.length - 1;
    } else if (c === '#') {
      const eol = text.indexOf('\n', i);
      if (eol < 0) return -1;
      i = eol;
    } else if (c === '[') depth++;
    else if (c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Rewrites the top-level `dependencies` array of a block (or inserts one as the block's first
 * line) in the style it was written: one line, or one entry per line with the entries'
 * indentation. Returns undefined when the array cannot be found as a plain top-level
 * `dependencies = [...]` followed by nothing but a comment.
 */
export function rewritePep723Dependencies(
  source: string,
  block: Pick<Pep723Block, 'startLine' | 'endLine'>,
  dependencies: readonly string[],
): string | undefined {
  const eol = source.includes('\r\n') ? '\r\n' : '\n';
  const lines = source.split(/\r?\n/);
  const first = block.startLine; // index of the first content line
  const last = block.endLine - 1; // index of the closing line
  const toml = lines
    .slice(first, last)
    .map((line) => line.replace(/[ \t]+$/, ''))
    .map((line) => (line === '#' ? '' : line.slice(2)));
  const quoted = dependencies.map((spec) => JSON.stringify(spec));
  const header = toml.findIndex((line) => /^\s*\[/.test(line));
  const scope = header < 0 ? toml.length : header;
  const keyLine = toml.slice(0, scope).findIndex((line) => /^\s*dependencies\s*=/.test(line));
  let replacement: string[];
  let from: number;
  let to: number;
  if (keyLine < 0) {
    replacement = ['dependencies = [', ...quoted.map((q) => `    ${q},`), ']'];
    from = 0;
    to = 0;
  } else {
    const joined = toml.slice(keyLine).join('\n');
    const open = joined.indexOf('=') + 1;
    const valueStart = open + (/^\s*/.exec(joined.slice(open))?.[0].length ?? 0);
    if (joined[valueStart] !== '[') return undefined;
    const end = arrayEnd(joined, valueStart);
    if (end < 0) return undefined;
    const rest = joined.slice(end);
    const restOfLine = rest.split('\n')[0] ?? '';
    if (!/^\s*(#.*)?$/.test(restOfLine)) return undefined;
    const spanned = joined.slice(0, end).split('\n').length;
    const indent = /^\s*/.exec(toml[keyLine] ?? '')?.[0] ?? '';
    if (spanned === 1) {
      replacement = [`${indent}dependencies = [${quoted.join(', ')}]${restOfLine}`];
    } else {
      const entryLine = toml
        .slice(keyLine + 1, keyLine + spanned - 1)
        .find((line) => line.trim() !== '' && !line.trim().startsWith('#'));
      const entryIndent = entryLine ? (/^\s*/.exec(entryLine)?.[0] ?? '    ') : `${indent}    `;
      const closeIndent = /^\s*/.exec(toml[keyLine + spanned - 1] ?? '')?.[0] ?? indent;
      replacement = [
        `${indent}dependencies = [`,
        ...quoted.map((q) => `${entryIndent}${q},`),
        `${closeIndent}]${restOfLine}`,
      ];
    }
    from = keyLine;
    to = keyLine + spanned;
  }
  // Only the array's lines change; every other line of the cell keeps its exact bytes.
  const raw = lines.slice(first, last);
  const content = [
    ...raw.slice(0, from),
    ...replacement.map((line) => (line === '' ? '#' : `# ${line}`)),
    ...raw.slice(to),
  ];
  return [...lines.slice(0, first), ...content, ...lines.slice(last)].join(eol);
}
