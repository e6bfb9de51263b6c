export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  now?: () => number;
}

/** Exponential backoff for background replenishment: 1 s, 2 s, 4 s ... capped (default 5 min). */
export class Backoff {
  private failures = 0;
  private until = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 300_000;
    this.now = options.now ?? Date.now;
  }

  get failing(): boolean {
    return this.failures > 0;
  }

  /** Records a failure; returns the delay before the next attempt. */
  fail(): number {
    const delay = Math.min(this.initialMs * 2 ** this.failures, this.maxMs);
    this.failures += 1;
    this.until = this.now() + delay;
    return delay;
  }

  succeed(): void {
    this.failures = 0;
    this.until = 0;
  }

  ready(): boolean {
    return this.now() >= this.until;
  }

  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }
}

/** A timer that can be cut short: background loops sleep on it and claims wake them. */
export class Wakeup {
  private resolve: (() => void) | undefined;
  private pending = false;

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.resolve = () => {
        clearTimeout(timer);
        this.resolve = undefined;
        resolve();
      };
    });
  }

  wake(): void {
    if (this.resolve) this.resolve();
    else this.pending = true;
  }
}
