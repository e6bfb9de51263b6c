// A JSON object that remembers the exact text of each member it was read with. Untouched
// members are written back byte for byte; a changed member is rendered in the document's own
// style (indent unit, line ending, key/value separator) at its own depth.

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
  readonly members: Member[];
  /** Exact text of the whole object while no member changed since it was read/rendered. */
  private text: string | undefined;

  constructor(members: Member[], text: string | undefined) {
    this.members = members;
    this.text = text;
  }

  static fromEntries(entries: readonly (readonly [string, unknown])[]): RawObject {
    return new RawObject(
      entries.map(([key, value]) => ({ key, keyRaw: JSON.stringify(key), raw: undefined, value })),
      undefined,
    );
  }

  get unchanged(): boolean {
    return this.text !== undefined;
  }

  has(key: string): boolean {
    return this.members.some((m) => m.key === key);
  }

  get(key: string): unknown {
    return this.members.find((m) => m.key === key)?.value;
  }

  /**
   * Sets a member. An existing member keeps its place; a new one goes where sorted order puts
   * it when the object's keys are sorted (as Jupyter and VS Code write them), else at the end.
   */
  set(key: string, value: unknown): void {
    this.text = undefined;
    const existing = this.members.find((m) => m.key === key);
    if (existing) {
      existing.raw = undefined;
      existing.value = value;
      return;
    }
    const member: Member = { key, keyRaw: JSON.stringify(key), raw: undefined, value };
    if (isSorted(this.members)) {
      const at = this.members.findIndex((m) => m.key > key);
      if (at >= 0) {
        this.members.splice(at, 0, member);
        return;
      }
    }
    this.members.push(member);
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
    let text: string;
    if (this.members.length === 0) text = '{}';
    else if (style.indent === undefined) {
      text = `{${this.members
        .map((m) => `${m.keyRaw}${style.colon}${m.raw ?? renderValue(m.value, level, style)}`)
        .join(',')}}`;
    } else {
      const pad = style.eol + style.indent.repeat(level);
      text = `{${pad}${this.members
        .map((m) => `${m.keyRaw}${style.colon}${m.raw ?? renderValue(m.value, level, style)}`)
        .join(`,${pad}`)}${style.eol}${style.indent.repeat(level - 1)}}`;
    }
    this.text = text;
    return text;
  }
}
