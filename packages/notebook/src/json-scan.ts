// Finds the byte spans of JSON members and elements so untouched parts of a notebook can be
// written back exactly as they were read. Python's `json.dumps` prints `1.0` where JavaScript
// prints `1` and the two escape differently, so re-serialising what was parsed would rewrite
// bytes nobody edited. The scanner runs only on text `JSON.parse` has already accepted, so it
// can trust the grammar; it is iterative (no recursion) and enforces a nesting limit.

export interface Span {
  start: number;
  end: number;
}

export interface MemberSpan {
  key: string;
  /** The key exactly as written, quotes and escapes included. */
  keyRaw: string;
  /** Text between the key and its value (`": "` as Jupyter writes it, `":"` compact). */
  colon: string;
  value: Span;
}

const STRUCTURAL = /["{}[\]]/g;

function isWs(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

export function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

/** `i` is an opening quote; returns the index just past the closing quote. */
function skipString(text: string, i: number): number {
  let at = i + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) throw new SyntaxError('unterminated string');
    let backslashes = 0;
    for (let k = quote - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

export class DepthError extends Error {}

/**
 * Returns the index just past the value starting at `i`. `depth` is the nesting level of the
 * container holding that value (the top-level object is level 1); a container nested deeper
 * than `maxDepth` throws `DepthError`.
 */
export function skipValue(text: string, i: number, depth: number, maxDepth: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return skipString(text, i);
  if (c === 0x7b || c === 0x5b) {
    let level = 0;
    STRUCTURAL.lastIndex = i;
    for (;;) {
      const match = STRUCTURAL.exec(text);
      if (!match) throw new SyntaxError('unterminated container');
      const at = match.index;
      const ch = text.charCodeAt(at);
      if (ch === 0x22) {
        STRUCTURAL.lastIndex = skipString(text, at);
        continue;
      }
      if (ch === 0x7b || ch === 0x5b) {
        level++;
        if (depth + level > maxDepth) throw new DepthError();
      } else {
        level--;
        if (level === 0) return at + 1;
      }
    }
  }
  let end = i;
  while (end < text.length) {
    const ch = text.charCodeAt(end);
    if (isWs(ch) || ch === 0x2c || ch === 0x7d || ch === 0x5d) break;
    end++;
  }
  return end;
}

/** The members of the object at `start` (a `{` at nesting `depth`), with `end` just past its `}`. */
export function scanObject(
  text: string,
  start: number,
  depth: number,
  maxDepth: number,
  /** Scans a member's value itself (returning its end), or `undefined` for the default. */
  onValue?: (key: string, valueStart: number) => number | undefined,
): { members: MemberSpan[]; end: number } {
  const members: MemberSpan[] = [];
  let i = skipWs(text, start + 1);
  if (text.charCodeAt(i) === 0x7d) return { members, end: i + 1 };
  for (;;) {
    const keyStart = i;
    const keyEnd = skipString(text, i);
    const keyRaw = text.slice(keyStart, keyEnd);
    const colonEnd = skipWs(text, skipWs(text, keyEnd) + 1);
    const valueStart = colonEnd;
    // Most keys have no escapes: slice them instead of running the JSON parser per key.
    const key = keyRaw.includes('\\') ? (JSON.parse(keyRaw) as string) : keyRaw.slice(1, -1);
    const valueEnd = onValue?.(key, valueStart) ?? skipValue(text, valueStart, depth, maxDepth);
    members.push({
      key,
      keyRaw,
      colon: text.slice(keyEnd, valueStart),
      value: { start: valueStart, end: valueEnd },
    });
    i = skipWs(text, valueEnd);
    if (text.charCodeAt(i) === 0x2c) {
      i = skipWs(text, i + 1);
      continue;
    }
    return { members, end: i + 1 };
  }
}

/** The element spans of the array at `start` (a `[`), with `end` just past its `]`. */
export function scanArray(
  text: string,
  start: number,
  depth: number,
  maxDepth: number,
  /** Scans an element itself (returning its end), or `undefined` for the default. */
  onElement?: (index: number, elementStart: number) => number | undefined,
): { elements: Span[]; end: number } {
  const elements: Span[] = [];
  let i = skipWs(text, start + 1);
  if (text.charCodeAt(i) === 0x5d) return { elements, end: i + 1 };
  for (;;) {
    const end = onElement?.(elements.length, i) ?? skipValue(text, i, depth, maxDepth);
    elements.push({ start: i, end });
    i = skipWs(text, end);
    if (text.charCodeAt(i) === 0x2c) {
      i = skipWs(text, i + 1);
      continue;
    }
    return { elements, end: i + 1 };
  }
}

/** Deepest nesting of a value built in memory (outputs a run records); iterative. */
export function jsonDepthExceeds(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) stack.push([child, depth + 1]);
  }
  return false;
}
