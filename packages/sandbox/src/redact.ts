import { Buffer } from 'node:buffer';

/** Secret values shorter than this are not redacted: they would shred ordinary output. */
export const MIN_SECRET_LENGTH = 8;

/**
 * Well-known credential shapes, redacted even when the runtime never saw the value. Order matters
 * only for ties: on overlap the match that starts first wins, then the longer one.
 */
export const TOKEN_PATTERNS: readonly { name: string; regex: RegExp }[] = [
  { name: 'github_token', regex: /\bgh[pousr]_[A-Za-z0-9]{20,255}\b/g },
  { name: 'github_token', regex: /\bgithub_pat_[A-Za-z0-9_]{20,255}\b/g },
  { name: 'anthropic_key', regex: /\bsk-ant-[A-Za-z0-9_-]{16,}/g },
  { name: 'openai_key', regex: /\bsk-[A-Za-z0-9_-]{20,}/g },
  { name: 'aws_access_key', regex: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g },
  { name: 'google_api_key', regex: /\bAIza[0-9A-Za-z_-]{35}/g },
  { name: 'slack_token', regex: /\bxox[bpoas]-[0-9A-Za-z-]{10,}/g },
  { name: 'jwt', regex: /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g },
  // Only the `user:pass` part of `scheme://user:pass@host`, so the URL stays readable.
  { name: 'url_credentials', regex: /(?<=\b[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+(?=@)/g },
];

/** Without whitespace, a stream holds back at most this much waiting for a token to end. */
const PATTERN_HOLD = 4096;
/** Past this, a stream flushes even mid-token (known secrets are still never split). */
const HARD_HOLD = 65_536;

export interface RedactorOptions {
  /** Secret name -> value. Values shorter than {@link MIN_SECRET_LENGTH} are ignored. */
  secrets: Record<string, string>;
  /** Redact {@link TOKEN_PATTERNS} too (default true). */
  patterns?: boolean;
  /**
   * Also redact the value's base64 (any alignment, std and url-safe), URL-encoded and
   * JSON-escaped forms (default true), so e.g. an echoed `Authorization: Basic` header is caught.
   */
  encodedForms?: boolean;
}

export interface StreamRedactor {
  /** Feed a chunk; returns the redacted text that is safe to emit now (may be empty). */
  write(chunk: string): string;
  /** End of stream: returns the redacted remainder. */
  end(): string;
}

/** A piece of text of one labelled stream (e.g. `stdout` / `stderr`). */
export interface LabelledText<L extends string> {
  label: L;
  text: string;
}

/**
 * One redaction stream over several interleaved sources, in the order their chunks arrived: a
 * value split across sources (half on stdout, half on stderr) is caught like one split across
 * writes. What it emits keeps that order; each piece keeps its source's label, and a redacted
 * value that spans sources is attributed to the source it started in.
 */
export interface MergedStreamRedactor<L extends string> {
  /** Feed a chunk of `label`; returns the redacted pieces that are safe to emit now. */
  write(label: L, chunk: string): LabelledText<L>[];
  /** End of all sources (or a point where held text must go out): the redacted remainder. */
  end(): LabelledText<L>[];
}

export interface Redactor {
  redact(text: string): string;
  /** A stateful redactor for one stream that catches values split across chunks. */
  createStreamRedactor(): StreamRedactor;
  /** One stateful redactor over interleaved labelled streams (see {@link MergedStreamRedactor}). */
  createMergedStreamRedactor<L extends string>(): MergedStreamRedactor<L>;
  /** Redacts every string (and object key) inside a JSON-like value; returns a copy. */
  redactValue(value: unknown): unknown;
  /** The secret names this redactor knows (never the values). */
  readonly names: readonly string[];
}

interface Span {
  start: number;
  end: number;
  name: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The forms a value takes when it is encoded inside larger output. */
export function encodedForms(value: string): string[] {
  const forms = new Set<string>();
  const bytes = Buffer.from(value, 'utf8');
  // base64 of a value embedded at any offset contains the encoding of its whole 3-byte groups
  // for one of three alignments; those inner runs are stable whatever surrounds the value.
  for (let skip = 0; skip < 3; skip++) {
    const usable = Math.floor((bytes.length - skip) / 3) * 3;
    if (usable <= 0) continue;
    const b64 = bytes.subarray(skip, skip + usable).toString('base64');
    forms.add(b64);
    forms.add(b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  forms.add(encodeURIComponent(value));
  forms.add(JSON.stringify(value).slice(1, -1));
  forms.delete(value);
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

export function createRedactor(options: RedactorOptions): Redactor {
  const usePatterns = options.patterns ?? true;
  const useEncoded = options.encodedForms ?? true;
  const needleToName = new Map<string, string>();
  const names: string[] = [];
  // Exact values first so an encoded form never shadows another secret's literal value.
  for (const [name, value] of Object.entries(options.secrets)) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    names.push(name);
    if (!needleToName.has(value)) needleToName.set(value, name);
  }
  if (useEncoded) {
    for (const [name, value] of Object.entries(options.secrets)) {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
      for (const form of encodedForms(value))
        if (!needleToName.has(form)) needleToName.set(form, name);
    }
  }
  const needles = [...needleToName.keys()].sort((a, b) => b.length - a.length);
  // Alternation tries alternatives in order at each position, so longest-first wins overlaps.
  const secretRegex =
    needles.length > 0 ? new RegExp(needles.map(escapeRegExp).join('|'), 'g') : null;
  const longest = needles[0]?.length ?? 0;
  // Every proper prefix of every value (and encoded form): a stream holds back only a tail that
  // could still grow into one, so ordinary output ("sleeping\n") goes out at once.
  const prefixes = new Set<string>();
  for (const needle of needles)
    for (let length = 1; length < needle.length; length++) prefixes.add(needle.slice(0, length));

  /** Length of the longest tail of `text` that is the start of a value. */
  function pendingPrefix(text: string): number {
    for (let length = Math.min(longest - 1, text.length); length > 0; length--)
      if (prefixes.has(text.slice(text.length - length))) return length;
    return 0;
  }

  function findSpans(text: string): Span[] {
    const secretSpans: Span[] = [];
    if (secretRegex) {
      for (const match of text.matchAll(secretRegex)) {
        secretSpans.push({
          start: match.index,
          end: match.index + match[0].length,
          name: needleToName.get(match[0]) ?? 'secret',
        });
      }
    }
    const patternSpans: Span[] = [];
    if (usePatterns) {
      for (const pattern of TOKEN_PATTERNS) {
        for (const match of text.matchAll(pattern.regex)) {
          const start = match.index;
          const end = start + match[0].length;
          if (secretSpans.some((s) => s.start < end && start < s.end)) continue;
          patternSpans.push({ start, end, name: pattern.name });
        }
      }
      patternSpans.sort((a, b) => a.start - b.start || b.end - a.end);
    }
    const spans = [...secretSpans];
    let lastEnd = -1;
    for (const span of patternSpans) {
      if (span.start < lastEnd) continue;
      spans.push(span);
      lastEnd = span.end;
    }
    return spans.sort((a, b) => a.start - b.start);
  }

  function apply(text: string, spans: readonly Span[]): string {
    let out = '';
    let at = 0;
    for (const span of spans) {
      out += `${text.slice(at, span.start)}[REDACTED:${span.name}]`;
      at = span.end;
    }
    return out + text.slice(at);
  }

  // Results for short strings this redactor has already seen. A server redacts every response,
  // and most strings in them (ids, states, paths, messages) recur on every request: scanning them
  // again with every token pattern was a quarter of a status request's CPU. Redaction is a pure
  // function of the text for a given redactor (a new secret makes a new redactor, so a new
  // cache); bounded, and cleared rather than evicted when full.
  const memo = new Map<string, string>();
  const MEMO_ENTRIES = 2048;
  const MEMO_MAX_LENGTH = 1024;

  function redact(text: string): string {
    if (text.length > MEMO_MAX_LENGTH) return apply(text, findSpans(text));
    let out = memo.get(text);
    if (out === undefined) {
      out = apply(text, findSpans(text));
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(text, out);
    }
    return out;
  }

  /**
   * How much of `held` can be emitted now, and the spans inside that part. Holds back what may
   * be the start of a value (the longest tail that is a prefix of one, at most longest-1
   * characters) and, for token patterns, up to the
   * last whitespace (tokens never contain whitespace) but at most PATTERN_HOLD; past HARD_HOLD
   * it flushes even mid-token, emitting a straddling known value whole.
   */
  function safePrefix(held: string): { cut: number; spans: Span[] } {
    // A known value may have begun in the tail that is the start of one.
    let cut = held.length - pendingPrefix(held);
    const hard = held.length > HARD_HOLD;
    if (usePatterns && !hard) {
      const boundary = lastWhitespaceBefore(held, cut);
      if (boundary >= 0) cut = boundary + 1;
      else cut = Math.min(cut, held.length - PATTERN_HOLD);
    }
    if (cut <= 0) return { cut: 0, spans: [] };
    const emitted: Span[] = [];
    for (const span of findSpans(held)) {
      if (span.end <= cut) emitted.push(span);
      else if (span.start < cut) {
        // Straddles the cut: hold it whole, or when forced to flush, emit it whole.
        if (hard) {
          emitted.push(span);
          cut = span.end;
        } else cut = span.start;
        break;
      } else break;
    }
    return { cut: Math.max(cut, 0), spans: emitted };
  }

  function createMergedStreamRedactor<L extends string>(): MergedStreamRedactor<L> {
    // The held text, as the labelled segments it came in (adjacent same-label ones joined).
    let segments: LabelledText<L>[] = [];
    let held = '';
    /** Emits held[0, cut) with `spans` applied, split back into its sources. */
    const take = (cut: number, spans: readonly Span[]): LabelledText<L>[] => {
      const out: LabelledText<L>[] = [];
      const push = (label: L, text: string) => {
        if (text.length === 0) return;
        const last = out[out.length - 1];
        if (last && last.label === label) last.text += text;
        else out.push({ label, text });
      };
      // Segment boundaries as offsets into held.
      const starts: number[] = [];
      let offset = 0;
      for (const segment of segments) {
        starts.push(offset);
        offset += segment.text.length;
      }
      const labelAt = (at: number): L => {
        let index = 0;
        while (index + 1 < starts.length && (starts[index + 1] as number) <= at) index++;
        return (segments[index] as LabelledText<L>).label;
      };
      const plain = (from: number, to: number) => {
        let at = from;
        while (at < to) {
          let index = 0;
          while (index + 1 < starts.length && (starts[index + 1] as number) <= at) index++;
          const end = Math.min(to, (starts[index + 1] as number | undefined) ?? to);
          push((segments[index] as LabelledText<L>).label, held.slice(at, end));
          at = end;
        }
      };
      let at = 0;
      for (const span of spans) {
        plain(at, span.start);
        push(labelAt(span.start), `[REDACTED:${span.name}]`);
        at = span.end;
      }
      plain(at, cut);
      // Keep the rest, re-split by source.
      const rest: LabelledText<L>[] = [];
      for (let i = 0; i < segments.length; i++) {
        const start = starts[i] as number;
        const segment = segments[i] as LabelledText<L>;
        const end = start + segment.text.length;
        if (end <= cut) continue;
        rest.push({ label: segment.label, text: segment.text.slice(Math.max(cut - start, 0)) });
      }
      segments = rest;
      held = held.slice(cut);
      return out;
    };
    return {
      write(label: L, chunk: string): LabelledText<L>[] {
        if (chunk.length === 0) return [];
        const last = segments[segments.length - 1];
        if (last && last.label === label) last.text += chunk;
        else segments.push({ label, text: chunk });
        held += chunk;
        const { cut, spans } = safePrefix(held);
        return cut > 0 ? take(cut, spans) : [];
      },
      end(): LabelledText<L>[] {
        if (held.length === 0) return [];
        return take(held.length, findSpans(held));
      },
    };
  }

  function createStreamRedactor(): StreamRedactor {
    const merged = createMergedStreamRedactor<'text'>();
    const join = (pieces: LabelledText<'text'>[]) => pieces.map((piece) => piece.text).join('');
    return {
      write: (chunk: string) => join(merged.write('text', chunk)),
      end: () => join(merged.end()),
    };
  }

  function redactValue(value: unknown): unknown {
    return redactJsonValue(value, redact);
  }

  return { redact, createStreamRedactor, createMergedStreamRedactor, redactValue, names };
}

function lastWhitespaceBefore(text: string, limit: number): number {
  for (let i = Math.min(limit, text.length) - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9 || c === 12 || c === 11) return i;
  }
  return -1;
}

/**
 * Copies a JSON-like value with every string and key passed through `redact`. Cycles become
 * `"[Circular]"`; Errors become `{ name, message }`; keys such as `__proto__` stay plain data.
 */
export function redactJsonValue(value: unknown, redact: (text: string) => string): unknown {
  const seen = new WeakSet<object>();
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return redact(node);
    if (node === null || typeof node !== 'object') return node;
    if (seen.has(node)) return '[Circular]';
    seen.add(node);
    try {
      if (Array.isArray(node)) return node.map(walk);
      if (node instanceof Error) {
        const out: Record<string, unknown> = { name: node.name, message: redact(node.message) };
        const code = (node as { code?: unknown }).code;
        if (typeof code === 'string') out.code = redact(code);
        return out;
      }
      const toJSON = (node as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return walk(toJSON.call(node));
      // fromEntries defines own data properties, so a `__proto__` key cannot touch a prototype.
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [redact(k), walk(v)]));
    } finally {
      seen.delete(node);
    }
  };
  return walk(value);
}
