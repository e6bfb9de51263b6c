import type { Clock, Timers } from '../reconciler.js';

/** Injected clock + timers: the test decides when a scheduled pass fires. */
export class FakeScheduler implements Timers, Clock {
  current = 1_700_000_000_000;
  private nextId = 1;
  readonly pending = new Map<number, { at: number; ms: number; callback: () => void }>();

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.current + ms, ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Delays of the timers currently scheduled. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }

  /** Advances the clock to the earliest timer and runs it. */
  fireNext(): boolean {
    const next = [...this.pending.entries()].sort((a, b) => a[1].at - b[1].at)[0];
    if (!next) return false;
    this.pending.delete(next[0]);
    this.current = next[1].at;
    next[1].callback();
    return true;
  }
}
