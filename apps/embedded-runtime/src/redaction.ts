import {
  createRedactor,
  type MergedStreamRedactor,
  type Redactor,
  type StreamRedactor,
} from '@runyard/sandbox';

/**
 * The runtime's one redactor (the logic is `@runyard/sandbox`'s): every secret value the runtime
 * ever resolved, plus well-known token shapes. Secrets are learnt as workers resolve them, so the
 * underlying redactor is rebuilt when a new value arrives; stream redactors made before keep the
 * values they knew, which always include their own worker's.
 */
export class RuntimeRedaction {
  private readonly secrets: Record<string, string> = Object.create(null);
  private readonly known = new Set<string>();
  private current: Redactor = createRedactor({ secrets: {} });

  /** Remembers a resolved secret value under its name (never logged, never returned). */
  add(name: string, value: string): void {
    if (this.known.has(value)) return;
    this.known.add(value);
    let key = name;
    // Two workers may name different values alike; both stay redacted.
    for (let n = 2; Object.hasOwn(this.secrets, key); n++) key = `${name}_${n}`;
    this.secrets[key] = value;
    this.current = createRedactor({ secrets: this.secrets });
  }

  redact(text: string): string {
    return this.current.redact(text);
  }

  /** A copy of a JSON-like value (event, result, error body) with every string redacted. */
  redactValue<T>(value: T): T {
    return this.current.redactValue(value) as T;
  }

  /** One per output stream: catches values split across chunks. */
  stream(): StreamRedactor {
    return this.current.createStreamRedactor();
  }

  /**
   * One per process or execution over its interleaved outputs (stdout and stderr in arrival
   * order): catches a value split across chunks and across the two.
   */
  merged<L extends string>(): MergedStreamRedactor<L> {
    return this.current.createMergedStreamRedactor<L>();
  }

  /** Rewrites an error's message (and string details) in place, keeping its class and code. */
  redactError(error: unknown): unknown {
    if (error instanceof Error) {
      const message = this.redact(error.message);
      if (message !== error.message) {
        try {
          error.message = message;
        } catch {
          // a frozen error keeps its message; callers still only see typed codes on the wire
        }
      }
      const details = (error as { details?: unknown }).details;
      if (details !== undefined && typeof details === 'object' && details !== null) {
        try {
          (error as { details?: unknown }).details = this.redactValue(details);
        } catch {
          // read-only details
        }
      }
    }
    return error;
  }
}
