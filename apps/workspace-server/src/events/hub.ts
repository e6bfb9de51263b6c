import { eventTopic, type RuntimeEvent, type RuntimeHost } from '@runyard/runtime-registry';
import type { ReconcilerEvent } from '@runyard/skills-reconciler';
import { z } from 'zod';

export const EVENT_TOPICS = ['lifecycle', 'env', 'outputs', 'workers', 'skills'] as const;
export const EventTopicSchema = z.enum(EVENT_TOPICS);
export type EventTopic = z.infer<typeof EventTopicSchema>;

export type HubEvent =
  | { topic: Exclude<EventTopic, 'skills'>; runtimeId: string; event: RuntimeEvent }
  | { topic: 'skills'; event: ReconcilerEvent };

type Listener = (event: HubEvent) => void;

/**
 * Fans every runtime's events and the skills reconciler's events out to subscribers (the
 * WebSocket route, the CLI's progress display). Runtimes come and go as remotes are
 * registered, so each is attached and detached by id.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  private readonly runtimes = new Map<string, () => void>();
  private readonly others: (() => void)[] = [];

  attachRuntime(host: RuntimeHost): void {
    this.detachRuntime(host.id);
    const runtimeId = host.id;
    const off = host.subscribe((event) => {
      this.publish({ topic: eventTopic(event), runtimeId, event } as HubEvent);
    });
    this.runtimes.set(runtimeId, off);
  }

  detachRuntime(runtimeId: string): void {
    const off = this.runtimes.get(runtimeId);
    this.runtimes.delete(runtimeId);
    off?.();
  }

  attachSkills(on: (listener: (event: ReconcilerEvent) => void) => () => void): void {
    this.others.push(on((event) => this.publish({ topic: 'skills', event })));
  }

  publish(event: HubEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken subscriber must not starve the others.
      }
    }
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  close(): void {
    for (const off of this.runtimes.values()) off();
    this.runtimes.clear();
    for (const off of this.others.splice(0)) off();
    this.listeners.clear();
  }
}
