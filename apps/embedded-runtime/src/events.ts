import type { RuntimeEvent } from '@runyard/runtime-registry';

export type RuntimeEventType = RuntimeEvent['type'];
export type RuntimeEventOf<T extends RuntimeEventType> = Extract<RuntimeEvent, { type: T }>;

/** Fan-out of runtime events; a throwing listener never breaks the runtime or other listeners. */
export class RuntimeEvents {
  private readonly listeners = new Set<(event: RuntimeEvent) => void>();

  /** `redact` sees every event before any listener does (the runtime's redactor). */
  constructor(private readonly redact: (event: RuntimeEvent) => RuntimeEvent = (e) => e) {}

  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  on<T extends RuntimeEventType>(
    type: T,
    listener: (event: RuntimeEventOf<T>) => void,
  ): () => void {
    return this.subscribe((event) => {
      if (event.type === type) listener(event as RuntimeEventOf<T>);
    });
  }

  emit(raw: RuntimeEvent): void {
    const event = this.redact(raw);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // a subscriber's bug is its own
      }
    }
  }
}
