import { ConfigBundleError } from './errors.js';
import { BundleLimits } from './limits.js';

/** Keys that reach `Object.prototype` machinery when a parsed object is merged or assigned. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

const LONE_SURROGATE = /\p{Surrogate}/u;

export interface JsonSafetyLimits {
  maxBytes: number;
  maxDepth: number;
}

const defaultLimits: JsonSafetyLimits = {
  maxBytes: BundleLimits.maxBytes,
  maxDepth: BundleLimits.maxDepth,
};

function tooLarge(maxBytes: number): ConfigBundleError {
  return new ConfigBundleError('config_bundle_too_large', `bundle exceeds ${maxBytes} bytes`);
}

function tooDeep(maxDepth: number): ConfigBundleError {
  return new ConfigBundleError('invalid_bundle', `bundle nests deeper than ${maxDepth} levels`);
}

function forbiddenKey(key: string): ConfigBundleError {
  // The key is one of three fixed names, so naming it echoes nothing the caller controls.
  return new ConfigBundleError('invalid_bundle', `field name "${key}" is not allowed`);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that an in-memory value is plain JSON a bundle could be: only null, booleans, finite
 * numbers, well-formed strings, arrays and plain objects with data properties; no forbidden keys;
 * bounded depth (which also stops cycles). Walks iteratively and gives up as soon as a lower
 * bound of the JSON size passes the limit, so a 10 MB string or a million-element array costs
 * little and a hostile nesting never reaches a recursive function.
 */
export function assertPlainJson(value: unknown, limits: JsonSafetyLimits = defaultLimits): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let size = 0;
  while (stack.length > 0) {
    const item = stack.pop()!;
    const current = item.value;
    size += 1;
    if (current === null || typeof current === 'boolean') continue;
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) {
        throw new ConfigBundleError('invalid_bundle', 'bundle contains a non-finite number');
      }
      continue;
    }
    if (typeof current === 'string') {
      size += current.length + 2;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      if (LONE_SURROGATE.test(current)) {
        throw new ConfigBundleError('invalid_bundle', 'bundle contains a lone surrogate');
      }
      continue;
    }
    if (typeof current !== 'object') {
      throw new ConfigBundleError(
        'invalid_bundle',
        `bundle contains a value of type ${typeof current}`,
      );
    }
    if (item.depth >= limits.maxDepth) throw tooDeep(limits.maxDepth);
    if (Array.isArray(current)) {
      size += current.length;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      for (let index = 0; index < current.length; index += 1) {
        if (!Object.hasOwn(current, index)) {
          throw new ConfigBundleError('invalid_bundle', 'bundle contains a sparse array');
        }
        stack.push({ value: current[index], depth: item.depth + 1 });
      }
      continue;
    }
    if (!isPlainObject(current) || Object.getOwnPropertySymbols(current).length > 0) {
      throw new ConfigBundleError('invalid_bundle', 'bundle contains a non-JSON object');
    }
    for (const key of Object.getOwnPropertyNames(current)) {
      if (FORBIDDEN_KEYS.has(key)) throw forbiddenKey(key);
      const descriptor = Object.getOwnPropertyDescriptor(current, key)!;
      // An accessor would run code on every read and could answer differently each time.
      if (!('value' in descriptor) || !descriptor.enumerable) {
        throw new ConfigBundleError('invalid_bundle', 'bundle contains a non-data property');
      }
      if (descriptor.value === undefined) continue;
      size += key.length + 4;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      if (LONE_SURROGATE.test(key)) {
        throw new ConfigBundleError('invalid_bundle', 'bundle contains a lone surrogate');
      }
      stack.push({ value: descriptor.value, depth: item.depth + 1 });
    }
  }
}

/** UTF-8 byte length without allocating the encoded text. */
export function utf8ByteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * A strict RFC 8259 parser for untrusted text. Unlike `JSON.parse` it refuses duplicate keys
 * (whose "last one wins" would let two readers see different bundles), refuses
 * `__proto__`/`constructor`/`prototype` keys, and bounds nesting depth so a hostile document
 * cannot exhaust the stack. Size is checked before any parsing.
 */
export function parseJsonSafely(
  input: string | Uint8Array,
  limits: JsonSafetyLimits = defaultLimits,
): unknown {
  let text: string;
  if (typeof input === 'string') {
    // UTF-16 length never exceeds UTF-8 length, so the cheap check is a safe first filter.
    if (input.length > limits.maxBytes || utf8ByteLength(input) > limits.maxBytes) {
      throw tooLarge(limits.maxBytes);
    }
    text = input;
  } else {
    if (input.byteLength > limits.maxBytes) throw tooLarge(limits.maxBytes);
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch (error) {
      throw new ConfigBundleError('invalid_bundle', 'bundle is not valid UTF-8', { cause: error });
    }
  }
  return new StrictJsonParser(text, limits.maxDepth).parseDocument();
}

class StrictJsonParser {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  parseDocument(): unknown {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.position !== this.text.length) this.fail('unexpected data after the document');
    return value;
  }

  private fail(reason: string): never {
    // Offsets only: the text may hold a credential, so none of it is quoted back.
    throw new ConfigBundleError(
      'invalid_bundle',
      `bundle is not valid JSON at offset ${this.position}: ${reason}`,
    );
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.position;
    WHITESPACE.test(this.text);
    this.position = WHITESPACE.lastIndex;
  }

  private expect(char: string): void {
    if (this.text[this.position] !== char) this.fail(`expected '${char}'`);
    this.position += 1;
  }

  private parseValue(depth: number): unknown {
    const char = this.text[this.position];
    switch (char) {
      case '{':
        return this.parseObject(depth + 1);
      case '[':
        return this.parseArray(depth + 1);
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) {
          return this.parseNumber();
        }
        return this.fail(char === undefined ? 'unexpected end of input' : 'unexpected character');
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) this.fail('invalid literal');
    this.position += word.length;
    return value;
  }

  private parseNumber(): number {
    NUMBER.lastIndex = this.position;
    const match = NUMBER.exec(this.text);
    if (!match || match[0].length === 0) this.fail('invalid number');
    const value = Number(match[0]);
    if (!Number.isFinite(value)) this.fail('number out of range');
    this.position += match[0].length;
    return value;
  }

  private parseString(): string {
    this.position += 1;
    let result = '';
    for (;;) {
      STRING_RUN.lastIndex = this.position;
      STRING_RUN.test(this.text);
      result += this.text.slice(this.position, STRING_RUN.lastIndex);
      this.position = STRING_RUN.lastIndex;
      const char = this.text[this.position];
      if (char === '"') {
        this.position += 1;
        return result;
      }
      if (char === undefined) this.fail('unterminated string');
      if (char !== '\\') this.fail('control character in string');
      const escaped = this.text[this.position + 1];
      if (escaped === 'u') {
        const hex = this.text.slice(this.position + 2, this.position + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('invalid unicode escape');
        result += String.fromCharCode(Number.parseInt(hex, 16));
        this.position += 6;
        continue;
      }
      const replacement = escaped === undefined ? undefined : ESCAPES[escaped];
      if (replacement === undefined) this.fail('invalid escape');
      result += replacement;
      this.position += 2;
    }
  }

  private parseArray(depth: number): unknown[] {
    if (depth > this.maxDepth) throw tooDeep(this.maxDepth);
    this.position += 1;
    const result: unknown[] = [];
    this.skipWhitespace();
    if (this.text[this.position] === ']') {
      this.position += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      result.push(this.parseValue(depth));
      this.skipWhitespace();
      if (this.text[this.position] === ',') {
        this.position += 1;
        continue;
      }
      this.expect(']');
      return result;
    }
  }

  private parseObject(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) throw tooDeep(this.maxDepth);
    this.position += 1;
    const result: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.position] === '}') {
      this.position += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') this.fail('expected a field name');
      const keyOffset = this.position;
      const key = this.parseString();
      if (FORBIDDEN_KEYS.has(key)) throw forbiddenKey(key);
      if (seen.has(key)) {
        this.position = keyOffset;
        this.fail('duplicate field name');
      }
      seen.add(key);
      this.skipWhitespace();
      this.expect(':');
      this.skipWhitespace();
      const value = this.parseValue(depth);
      // `key` can never be `__proto__` here, so plain assignment cannot touch a prototype.
      result[key] = value;
      this.skipWhitespace();
      if (this.text[this.position] === ',') {
        this.position += 1;
        continue;
      }
      this.expect('}');
      return result;
    }
  }
}
