// Output summaries (for cell listings and events) and output shaping for LLM readers (for the
// MCP layer). Pure functions over nbformat 4 output objects as parsed; every field is read
// defensively because a file on disk may hold anything.

import { OUTPUT_PREVIEW_CHARS } from './limits.js';

export type CellType = 'code' | 'markdown' | 'raw';

export interface OutputSummary {
  /** Outputs per `output_type` (`stream`, `display_data`, `execute_result`, `error`, …). */
  counts: Record<string, number>;
  /** The start of the first textual output, at most `OUTPUT_PREVIEW_CHARS` characters. */
  preview: string;
  hasError: boolean;
  /** `ename: evalue` of the first error output. */
  error?: string;
}

export interface CellSummary {
  id: string;
  index: number;
  cellType: CellType;
  /** The source, cut to the listing limit; `sourceTruncated` says when it was. */
  source: string;
  sourceTruncated: boolean;
  /** Length of the whole source in characters. */
  sourceChars: number;
  executionCount: number | null;
  outputs: OutputSummary;
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** nbformat "multiline string": a string or a list of strings. */
export function multilineText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((line) => typeof line === 'string'))
    return value.join('');
  return undefined;
}

function own(object: Obj, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function textOfOutput(output: Obj): string | undefined {
  const type = own(output, 'output_type');
  if (type === 'stream') return multilineText(own(output, 'text'));
  if (type === 'error') return errorHeadline(output);
  const data = own(output, 'data');
  if (isObj(data)) return multilineText(own(data, 'text/plain'));
  return undefined;
}

function errorHeadline(output: Obj): string {
  const ename = own(output, 'ename');
  const evalue = own(output, 'evalue');
  return `${typeof ename === 'string' ? ename : 'Error'}: ${typeof evalue === 'string' ? evalue : ''}`;
}

export function summarizeOutputs(outputs: unknown): OutputSummary {
  const counts: Record<string, number> = Object.create(null) as Record<string, number>;
  let preview = '';
  let hasError = false;
  let error: string | undefined;
  if (Array.isArray(outputs)) {
    for (const output of outputs) {
      if (!isObj(output)) continue;
      const type = own(output, 'output_type');
      const key = typeof type === 'string' ? type : 'unknown';
      counts[key] = (counts[key] ?? 0) + 1;
      if (type === 'error') {
        hasError = true;
        error ??= stripAnsi(errorHeadline(output)).slice(0, OUTPUT_PREVIEW_CHARS);
      }
      if (preview === '') {
        const text = textOfOutput(output);
        if (text) preview = stripAnsi(text).slice(0, OUTPUT_PREVIEW_CHARS);
      }
    }
  }
  return { counts: { ...counts }, preview, hasError, ...(error !== undefined ? { error } : {}) };
}

// CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.includes('\x1b') ? text.replace(ANSI, '') : text;
}

export interface CutText {
  text: string;
  /** UTF-8 bytes removed from the middle (0 when nothing was cut). */
  cutBytes: number;
  totalBytes: number;
}

/**
 * Keeps the head and the tail of `text` (half of `maxBytes` each, on character boundaries)
 * and states in the text how many bytes were cut between them.
 */
export function cutMiddle(text: string, maxBytes: number): CutText {
  const totalBytes = Buffer.byteLength(text);
  if (totalBytes <= maxBytes) return { text, cutBytes: 0, totalBytes };
  const bytes = Buffer.from(text);
  let headEnd = Math.floor(maxBytes / 2);
  while (headEnd > 0 && ((bytes[headEnd] as number) & 0xc0) === 0x80) headEnd--;
  let tailStart = totalBytes - Math.floor(maxBytes / 2);
  while (tailStart < totalBytes && ((bytes[tailStart] as number) & 0xc0) === 0x80) tailStart++;
  const cutBytes = tailStart - headEnd;
  return {
    text: `${bytes.subarray(0, headEnd).toString('utf8')}\n[… ${cutBytes} bytes cut …]\n${bytes.subarray(tailStart).toString('utf8')}`,
    cutBytes,
    totalBytes,
  };
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X'
          ? Number.parseInt(name.slice(2), 16)
          : Number.parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

const BLOCK_TAGS = new Set([
  'br',
  'p',
  'div',
  'tr',
  'li',
  'ul',
  'ol',
  'table',
  'thead',
  'tbody',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'pre',
  'hr',
]);

/**
 * The text of an HTML fragment: tags dropped (block tags become line breaks, cells tabs),
 * `<script>`/`<style>` contents dropped, entities decoded. One linear pass (no backtracking
 * regular expression over untrusted markup).
 */
export function htmlToText(html: string): string {
  const lower = html.toLowerCase();
  let out = '';
  let i = 0;
  while (i < html.length) {
    const open = html.indexOf('<', i);
    if (open < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, open);
    const close = html.indexOf('>', open + 1);
    if (close < 0) break;
    const inner = lower.slice(open + 1, close);
    const name = /^\/?\s*([a-z0-9]+)/.exec(inner)?.[1] ?? '';
    i = close + 1;
    if ((name === 'script' || name === 'style') && inner[0] !== '/') {
      const end = lower.indexOf(`</${name}`, i);
      if (end < 0) break;
      const endClose = html.indexOf('>', end);
      i = endClose < 0 ? html.length : endClose + 1;
      continue;
    }
    if (name === 'td' || name === 'th') {
      if (inner[0] === '/') out += '\t';
    } else if (BLOCK_TAGS.has(name)) out += '\n';
  }
  return decodeEntities(out)
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export interface ShapeLimits {
  /** Per output text (stream, text/plain, reduced HTML, JSON): head + tail kept. */
  textBytes: number;
  /** Per error traceback, after ANSI stripping. */
  tracebackBytes: number;
  /** Largest image (decoded bytes) passed through as image content. */
  imageBytes: number;
  /** Across all parts: later outputs are counted but not shaped once this is spent. */
  totalBytes: number;
}

export const DEFAULT_SHAPE_LIMITS: ShapeLimits = {
  textBytes: 16 * 1024,
  tracebackBytes: 8 * 1024,
  imageBytes: 1024 * 1024,
  totalBytes: 256 * 1024,
};

export type ShapedPart =
  | {
      type: 'text';
      text: string;
      /** Index of the output in the cell this part came from. */
      outputIndex: number;
      /** Bytes cut from the middle of this output's text (0 when whole). */
      cutBytes: number;
      totalBytes: number;
    }
  | { type: 'image'; mimeType: string; data: string; outputIndex: number };

export interface ShapedOutputs {
  parts: ShapedPart[];
  /** Outputs not shaped because the total budget was spent. */
  omittedOutputs: number;
  /** True when any text was cut or any output/image omitted: the full outputs are in the cell. */
  truncated: boolean;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.floor((data.length * 3) / 4) - padding;
}

function textPart(text: string, outputIndex: number, maxBytes: number): ShapedPart {
  const cut = cutMiddle(text, maxBytes);
  return {
    type: 'text',
    text: cut.text,
    outputIndex,
    cutBytes: cut.cutBytes,
    totalBytes: cut.totalBytes,
  };
}

function shapeBundle(data: Obj, index: number, limits: ShapeLimits): ShapedPart[] {
  const parts: ShapedPart[] = [];
  for (const mimeType of IMAGE_TYPES) {
    const raw = multilineText(own(data, mimeType));
    if (raw === undefined) continue;
    const base64 = raw.replace(/\s+/g, '');
    const size = base64Bytes(base64);
    if (size <= limits.imageBytes)
      parts.push({ type: 'image', mimeType, data: base64, outputIndex: index });
    else
      parts.push({
        type: 'text',
        text: `[${mimeType} of ${size} bytes omitted: over the ${limits.imageBytes}-byte image limit]`,
        outputIndex: index,
        cutBytes: size,
        totalBytes: size,
      });
    break;
  }
  const plain = multilineText(own(data, 'text/plain'));
  const markdown = multilineText(own(data, 'text/markdown'));
  const html = multilineText(own(data, 'text/html'));
  const json = own(data, 'application/json');
  let text: string | undefined;
  if (plain !== undefined) text = plain;
  else if (markdown !== undefined) text = markdown;
  else if (html !== undefined) text = htmlToText(html.slice(0, limits.textBytes * 16));
  else if (json !== undefined) text = JSON.stringify(json, null, 1);
  if (text !== undefined) parts.push(textPart(stripAnsi(text), index, limits.textBytes));
  else if (parts.length === 0) {
    const types = Object.keys(data).slice(0, 8).join(', ');
    parts.push({
      type: 'text',
      text: `[output with ${types || 'no data'}]`,
      outputIndex: index,
      cutBytes: 0,
      totalBytes: 0,
    });
  }
  return parts;
}

/** One output as parts an LLM can read. */
export function shapeOutput(
  output: unknown,
  index: number,
  limits: ShapeLimits = DEFAULT_SHAPE_LIMITS,
): ShapedPart[] {
  if (!isObj(output)) return [];
  const type = own(output, 'output_type');
  if (type === 'stream') {
    const text = multilineText(own(output, 'text')) ?? '';
    const prefix = own(output, 'name') === 'stderr' ? '[stderr]\n' : '';
    const part = textPart(stripAnsi(text), index, limits.textBytes);
    if (part.type === 'text') part.text = prefix + part.text;
    return [part];
  }
  if (type === 'error') {
    const traceback = own(output, 'traceback');
    const lines = Array.isArray(traceback)
      ? traceback.filter((line): line is string => typeof line === 'string')
      : [];
    const headline = stripAnsi(errorHeadline(output));
    const body = cutMiddle(stripAnsi(lines.join('\n')).trim(), limits.tracebackBytes);
    return [
      {
        type: 'text',
        text: body.text ? `${headline}\n${body.text}` : headline,
        outputIndex: index,
        cutBytes: body.cutBytes,
        totalBytes: body.totalBytes,
      },
    ];
  }
  const data = own(output, 'data');
  if (isObj(data)) return shapeBundle(data, index, limits);
  return [];
}

function partBytes(part: ShapedPart): number {
  return part.type === 'text' ? Buffer.byteLength(part.text) : part.data.length;
}

/**
 * A cell's outputs as parts: consecutive stream outputs of the same name are joined first (as
 * Jupyter displays them), then each output is shaped; once `totalBytes` is spent the rest are
 * only counted.
 */
export function shapeOutputs(
  outputs: unknown,
  limits: ShapeLimits = DEFAULT_SHAPE_LIMITS,
): ShapedOutputs {
  const list = Array.isArray(outputs) ? outputs : [];
  const parts: ShapedPart[] = [];
  let spent = 0;
  let omittedOutputs = 0;
  let truncated = false;
  for (let i = 0; i < list.length; i++) {
    let output: unknown = list[i];
    const first = i;
    if (isObj(output) && own(output, 'output_type') === 'stream') {
      const name = own(output, 'name');
      let text = multilineText(own(output, 'text')) ?? '';
      while (i + 1 < list.length) {
        const next = list[i + 1];
        if (!isObj(next) || own(next, 'output_type') !== 'stream' || own(next, 'name') !== name)
          break;
        // Bounded: joining stops growing once the text is far past what will be kept.
        if (text.length <= limits.textBytes * 4) text += multilineText(own(next, 'text')) ?? '';
        else truncated = true;
        i++;
      }
      output = { output_type: 'stream', name, text };
    }
    if (spent >= limits.totalBytes) {
      omittedOutputs += i - first + 1;
      continue;
    }
    for (const part of shapeOutput(output, first, limits)) {
      if (part.type === 'text' && part.cutBytes > 0) truncated = true;
      spent += partBytes(part);
      parts.push(part);
    }
  }
  return { parts, omittedOutputs, truncated: truncated || omittedOutputs > 0 };
}
