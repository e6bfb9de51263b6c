// Change events of one document, transport-free: the WebSocket layer numbers nothing itself,
// it forwards these and answers a reconnecting client's `since=<seq>` from the ring buffer.
// Events carry ids, positions and bounded summaries, never whole sources or outputs (a buffer
// of 1000 events must not hold 1000 copies of a 10 MiB cell): a client fetches the cell.

import { NotebookError } from './errors.js';
import { EVENT_BUFFER_SIZE } from './limits.js';
import type { CellSummary } from './outputs.js';

export type CellField = 'source' | 'outputs' | 'execution_count' | 'metadata';

export type NotebookEventBody =
  | { type: 'cell_added'; cellId: string; index: number; cell: CellSummary }
  | { type: 'cell_changed'; cellId: string; fields: CellField[]; cell: CellSummary }
  | { type: 'cell_removed'; cellId: string; index: number }
  | { type: 'cell_moved'; cellId: string; from: number; to: number }
  | { type: 'outputs_cleared'; cellIds: string[] }
  | { type: 'saved'; hash: string; savedRevision: number }
  | { type: 'notebook_metadata_changed'; key: string }
  | { type: 'reloaded'; hash: string; cellCount: number };

/** One change, numbered per document; `revision` is the document's revision after it. */
export type NotebookEvent = NotebookEventBody & { seq: number; revision: number };

export type SinceResult =
  | { kind: 'events'; events: NotebookEvent[]; latestSeq: number }
  | {
      kind: 'gap';
      /** `too_old`: fell out of the buffer; `ahead`: a seq this document never issued. */
      reason: 'too_old' | 'ahead';
      oldestSeq: number | undefined;
      latestSeq: number;
    };

/** A bounded ring buffer of events with resumption by sequence number. */
export class EventLog {
  private readonly buffer: (NotebookEvent | undefined)[];
  private readonly capacity: number;
  /** Seq of the last event appended; 0 before the first. */
  private latest = 0;
  private readonly listeners = new Set<(event: NotebookEvent) => void>();

  constructor(capacity = EVENT_BUFFER_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be ≥ 1');
    this.capacity = capacity;
    this.buffer = new Array<NotebookEvent | undefined>(capacity).fill(undefined);
  }

  get latestSeq(): number {
    return this.latest;
  }

  /** Seq of the oldest event still buffered, `undefined` when none was ever appended. */
  get oldestSeq(): number | undefined {
    if (this.latest === 0) return undefined;
    return Math.max(1, this.latest - this.capacity + 1);
  }

  append(body: NotebookEventBody, revision: number): NotebookEvent {
    this.latest += 1;
    const event = { ...body, seq: this.latest, revision } as NotebookEvent;
    this.buffer[(this.latest - 1) % this.capacity] = event;
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Calls `listener` for every event appended from now on; returns the unsubscribe function. */
  subscribe(listener: (event: NotebookEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * The events after `seq` (a client's last seen), oldest first. `seq` 0 means "from the
   * beginning" and is a gap once the first event has left the buffer.
   */
  since(seq: number): SinceResult {
    if (!Number.isInteger(seq) || seq < 0) {
      throw new NotebookError('notebook_invalid_request', 'seq must be an integer ≥ 0');
    }
    if (seq > this.latest) {
      return { kind: 'gap', reason: 'ahead', oldestSeq: this.oldestSeq, latestSeq: this.latest };
    }
    const oldest = this.oldestSeq ?? 1;
    if (seq + 1 < oldest) {
      return { kind: 'gap', reason: 'too_old', oldestSeq: oldest, latestSeq: this.latest };
    }
    const events: NotebookEvent[] = [];
    for (let s = seq + 1; s <= this.latest; s++) {
      events.push(this.buffer[(s - 1) % this.capacity] as NotebookEvent);
    }
    return { kind: 'events', events, latestSeq: this.latest };
  }

  /** `since`, with a gap turned into the typed `notebook_event_gap` (410) for transports. */
  sinceOrThrow(seq: number): NotebookEvent[] {
    const result = this.since(seq);
    if (result.kind === 'events') return result.events;
    throw new NotebookError(
      'notebook_event_gap',
      result.reason === 'ahead'
        ? `seq ${seq} was never issued by this document (latest is ${result.latestSeq}); resynchronise`
        : `events after seq ${seq} are no longer buffered (oldest is ${result.oldestSeq}); resynchronise`,
      {
        details: {
          reason: result.reason,
          nextAction: {
            kind: 'resync_events',
            oldestSeq: result.oldestSeq,
            latestSeq: result.latestSeq,
          },
        },
      },
    );
  }
}
