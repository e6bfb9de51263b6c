// Edits one member of a JSON document in place, leaving every other byte as it was. A notebook
// re-serialised by JavaScript would differ from what Jupyter wrote (Python prints `1.0`, JS
// prints `1`; escapes differ), so dependency edits and trust signatures are spliced into the
// original text instead: cells, outputs and unknown metadata keep their exact bytes.

interface Member {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
}

export interface ObjectSpan {
  /** Index of `{`. */
  start: number;
  /** Index just past `}`. */
  end: number;
  members: Member[];
}

const WS = new Set([' ', '\t', '\n', '\r']);

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text[i] as string)) i++;
  return i;
}

function skipString(text: string, i: number): number {
  // text[i] is the opening quote
  i++;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  throw new SyntaxError('unterminated string');
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < text.length) {
      const d = text[i];
      if (d === '"') {
        i = skipString(text, i);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new SyntaxError('unterminated container');
  }
  while (i < text.length && !WS.has(text[i] as string) && !',}]'.includes(text[i] as string)) i++;
  return i;
}

/** The members of the object starting at `start` (which must be `{`). */
export function readObject(text: string, start: number): ObjectSpan {
  if (text[start] !== '{') throw new SyntaxError('not an object');
  const members: Member[] = [];
  let i = skipWs(text, start + 1);
  if (text[i] === '}') return { start, end: i + 1, members };
  for (;;) {
    if (text[i] !== '"') throw new SyntaxError('expected a key');
    const keyStart = i;
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') throw new SyntaxError('expected ":"');
    const valueStart = skipWs(text, i + 1);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipWs(text, valueEnd);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    if (text[i] === '}') return { start, end: i + 1, members };
    throw new SyntaxError('expected "," or "}"');
  }
}

/** The `[start, end)` spans of the elements of the array starting at `start` (which must be `[`). */
export function readArray(text: string, start: number): { start: number; end: number }[] {
  if (text[start] !== '[') throw new SyntaxError('not an array');
  const elements: { start: number; end: number }[] = [];
  let i = skipWs(text, start + 1);
  if (text[i] === ']') return elements;
  for (;;) {
    const end = skipValue(text, i);
    elements.push({ start: i, end });
    i = skipWs(text, end);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    if (text[i] === ']') return elements;
    throw new SyntaxError('expected "," or "]"');
  }
}

/**
 * Replaces the value at `path` (object keys and array indexes) inside a JSON document; every
 * container on the way and the value itself must exist. Only the bytes of that value change.
 * The new value is indented for its depth like its neighbours.
 */
export function replaceJsonValue(
  text: string,
  path: readonly (string | number)[],
  value: unknown,
): string {
  const indent = detectIndent(text);
  let start = skipWs(text, 0);
  for (const key of path) {
    if (typeof key === 'number') {
      const element = readArray(text, start)[key];
      if (!element) throw new SyntaxError('no such element');
      start = element.start;
    } else {
      const member = findMember(readObject(text, start), key);
      if (!member) throw new SyntaxError('no such member');
      start = member.valueStart;
    }
  }
  const end = skipValue(text, start);
  return text.slice(0, start) + serialize(value, indent, path.length) + text.slice(end);
}

/** The last member with this key wins, as in `JSON.parse`. */
export function findMember(object: ObjectSpan, key: string): Member | undefined {
  let found: Member | undefined;
  for (const member of object.members) if (member.key === key) found = member;
  return found;
}

/** Indentation unit of a document: nbformat writes 1 space; `undefined` for compact JSON. */
export function detectIndent(text: string): string | undefined {
  const match = /\n([ \t]+)\S/.exec(text);
  return match ? match[1] : undefined;
}

function serialize(value: unknown, indent: string | undefined, depth: number): string {
  if (indent === undefined) return JSON.stringify(value);
  return JSON.stringify(value, null, indent)
    .split('\n')
    .join(`\n${indent.repeat(depth)}`);
}

/**
 * Returns `text` with `object[key]` set to `value`. `depth` is the object's nesting level (the
 * top-level object is 0), so a new or replaced value is indented like its neighbours.
 */
export function setMember(
  text: string,
  object: ObjectSpan,
  key: string,
  value: unknown,
  depth: number,
  indent: string | undefined,
): string {
  const existing = findMember(object, key);
  const rendered = serialize(value, indent, depth + 1);
  if (existing) {
    return text.slice(0, existing.valueStart) + rendered + text.slice(existing.valueEnd);
  }
  const separator = indent === undefined ? ':' : ': ';
  const member = `${JSON.stringify(key)}${separator}${rendered}`;
  const last = object.members[object.members.length - 1];
  if (indent === undefined) {
    if (!last) return `${text.slice(0, object.start + 1)}${member}${text.slice(object.end - 1)}`;
    return `${text.slice(0, last.valueEnd)},${member}${text.slice(last.valueEnd)}`;
  }
  const inner = `\n${indent.repeat(depth + 1)}`;
  if (!last) {
    return `${text.slice(0, object.start + 1)}${inner}${member}\n${indent.repeat(depth)}${text.slice(object.end - 1)}`;
  }
  return `${text.slice(0, last.valueEnd)},${inner}${member}${text.slice(last.valueEnd)}`;
}

/**
 * Sets the value at `path` inside a JSON document, creating missing objects on the way. Only
 * the bytes of that one value (or the inserted member) change; a non-object in the way is
 * replaced by an object holding the rest of the path.
 */
export function setJsonPath(text: string, path: readonly string[], value: unknown): string {
  const indent = detectIndent(text);
  let object = readObject(text, skipWs(text, 0));
  for (let depth = 0; depth < path.length; depth++) {
    const key = path[depth] as string;
    if (depth === path.length - 1) return setMember(text, object, key, value, depth, indent);
    const member = findMember(object, key);
    if (!member || text[member.valueStart] !== '{') {
      let nested: unknown = value;
      for (let i = path.length - 1; i > depth; i--) nested = { [path[i] as string]: nested };
      return setMember(text, object, key, nested, depth, indent);
    }
    object = readObject(text, member.valueStart);
  }
  throw new TypeError('an empty path');
}

/** Sets `metadata[key]` of a notebook document. */
export function setNotebookMetadata(text: string, key: string, value: unknown): string {
  return setJsonPath(text, ['metadata', key], value);
}
