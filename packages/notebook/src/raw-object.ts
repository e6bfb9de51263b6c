// A JSON object that remembers the exact text of each member it was read with. Untouched
// members are written back byte for byte; a changed member is rendered in the document's own
// style (indent unit, line ending, key/value separator) at its own depth.

import { type MemberSpan, scanObject } from './json-scan.js';

/** How a document lays out JSON it has to write. */
export interface JsonStyle {
  /** Indent unit (`' '` as Jupyter writes, `'  '`, `'    '`, `'\t'`); `undefined` = compact. */
  indent: string | undefined;
  /** Line ending of regenerated lines (`'\n'` or `'\r\n'`). */
  eol: string;
  /** Between a key and its value: `': '` (Jupyter, VS Code) or `':'` (compact). */
  colon: string;
}

export interface Member {
  key: string;
  /** The key as written (quotes and escapes included). */
  keyRaw: string;
  /** Exact text of the value as read; `undefined` once the value was replaced. */
  raw: string | undefined;
  value: unknown;
}

/**
 * Renders `value` as the value of a member/element sitting at nesting `level` (the top-level
 * object's members are at level 1), so its inner lines line up with the surrounding text.
 */
export function renderValue(value: unknown, level: number, style: JsonStyle): string {
  if (style.indent === undefined) return JSON.stringify(value);
  const text = JSON.stringify(value, null, style.indent);
  // JSON.stringify escapes newlines inside strings, so every raw newline is structural.
  if (!text.includes('\n')) return text;
  return text.replace(/\n/g, style.eol + style.indent.repeat(level));
}

function isSorted(members: readonly Member[]): boolean {
  for (let i = 1; i < members.length; i++)
    if ((members[i - 1] as Member).key > (members[i] as Member).key) return false;
  return true;
}

export class RawObject {
  /** Members, materialised from `text` on the first change (most cells are never edited). */
  private list: Member[] | undefined;
  /** Exact text of the whole object while no member changed since it was read/rendered. */
  private text: string | undefined;
  /** The parsed value of `text` (own keys only are read). */
  private readonly value: Record<string, unknown> | undefined;
  /** Nesting level of the object in its document (for scanning `text` lazily). */
  private readonly level: number;

  private constructor(
    list: Member[] | undefined,
    text: string | undefined,
    value: Record<string, unknown> | undefined,
    level: number,
  ) {
    this.list = list;
    this.text = text;
    this.value = value;
    this.level = level;
  }

  /** An object read from a file: its exact text and what `JSON.parse` made of it. */
  static fromText(text: string, value: Record<string, unknown>, level: number): RawObject {
    return new RawObject(undefined, text, value, level);
  }

  static fromMembers(members: Member[], text: string, level: number): RawObject {
    return new RawObject(members, text, undefined, level);
  }

  static fromEntries(entries: readonly (readonly [string, unknown])[]): RawObject {
    return new RawObject(
      entries.map(([key, value]) => ({ key, keyRaw: JSON.stringify(key), raw: undefined, value })),
      undefined,
      undefined,
      0,
    );
  }

  get members(): Member[] {
    if (this.list === undefined) {
      const text = this.text as string;
      const value = this.value as Record<string, unknown>;
      const scanned = scanObject(text, 0, this.level, Number.POSITIVE_INFINITY).members;
      // JSON.parse keeps the last of duplicate keys; so does every reader of the file.
      const last = new Map<string, MemberSpan>();
      for (const m of scanned) last.set(m.key, m);
      this.list = [...last.values()]
        .sort((a, b) => a.value.start - b.value.start)
        .map((m) => ({
          key: m.key,
          keyRaw: m.keyRaw,
          raw: text.slice(m.value.start, m.value.end),
          value: value[m.key],
        }));
    }
    return this.list;
  }

  has(key: string): boolean {
    if (this.list === undefined) return Object.hasOwn(this.value as object, key);
    return this.list.some((m) => m.key === key);
  }

  get(key: string): unknown {
    if (this.list === undefined) {
      const value = this.value as Record<string, unknown>;
      return Object.hasOwn(value, key) ? value[key] : undefined;
    }
    return this.list.find((m) => m.key === key)?.value;
  }

  /**
   * Sets a member. An existing member keeps its place; a new one goes where sorted order puts
   * it when the object's keys are sorted (as Jupyter and VS Code write them), else at the end.
   */
  set(key: string, value: unknown): void {
    const members = this.members;
    this.text = undefined;
    const existing = members.find((m) => m.key === key);
    if (existing) {
      existing.raw = undefined;
      existing.value = value;
      return;
    }
    const member: Member = { key, keyRaw: JSON.stringify(key), raw: undefined, value };
    if (isSorted(members)) {
      const at = members.findIndex((m) => m.key > key);
      if (at >= 0) {
        members.splice(at, 0, member);
        return;
      }
    }
    members.push(member);
  }

  /** Removes a member; returns whether there was one. */
  delete(key: string): boolean {
    const members = this.members;
    const at = members.findIndex((m) => m.key === key);
    if (at < 0) return false;
    this.text = undefined;
    members.splice(at, 1);
    return true;
  }

  /** The object's current value (own keys only; `__proto__` stays a plain key). */
  toValue(): Record<string, unknown> {
    if (this.list === undefined) return this.value as Record<string, unknown>;
    return Object.fromEntries(this.list.map((m) => [m.key, m.value]));
  }

  /** Replaces a member's text with already-rendered JSON (a container the caller renders). */
  setRaw(key: string, raw: string): void {
    const existing = this.members.find((m) => m.key === key);
    if (!existing) throw new Error(`no member ${key}`);
    this.text = undefined;
    existing.raw = raw;
  }

  /** Renders the object whose members sit at nesting `level`; caches the result. */
  render(level: number, style: JsonStyle): string {
    if (this.text !== undefined) return this.text;
    const members = this.members;
    const item = (m: Member) =>
      `${m.keyRaw}${style.colon}${m.raw ?? renderValue(m.value, level, style)}`;
    let text: string;
    if (members.length === 0) text = '{}';
    else if (style.indent === undefined) text = `{${members.map(item).join(',')}}`;
    else {
      const pad = style.eol + style.indent.repeat(level);
      text = `{${pad}${members.map(item).join(`,${pad}`)}${style.eol}${style.indent.repeat(level - 1)}}`;
    }
    this.text = text;
    return text;
  }
}
