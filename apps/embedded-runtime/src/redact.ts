export const REDACTED = '[redacted]';

/** Values shorter than this would redact ordinary text; they are not treated as secrets. */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Redacts known secret values from a stream of text chunks. A value split across chunks is
 * still caught: the longest tail that could be the start of a secret is held back until the
 * next chunk (or `flush`) decides it.
 */
export class StreamRedactor {
  private readonly secrets: string[];
  private pending = '';

  constructor(values: Iterable<string>) {
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...new Set(values)]
      .filter((value) => value.length >= MIN_REDACTED_LENGTH)
      .sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** Returns the text that is safe to emit now. */
  push(chunk: string): string {
    const text = this.redact(this.pending + chunk);
    const hold = this.heldTail(text);
    this.pending = text.slice(text.length - hold);
    return text.slice(0, text.length - hold);
  }

  flush(): string {
    const text = this.redact(this.pending);
    this.pending = '';
    return text;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some secret. */
  private heldTail(text: string): number {
    let best = 0;
    for (const secret of this.secrets) {
      const max = Math.min(secret.length - 1, text.length);
      for (let n = max; n > best; n--) {
        if (text.endsWith(secret.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
