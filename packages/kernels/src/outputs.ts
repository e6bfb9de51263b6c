/** nbformat v4 output shapes produced by `KernelClient.execute`. */
export type StreamOutput = { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string };
export type DisplayDataOutput = {
  output_type: 'display_data';
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
};
export type ExecuteResultOutput = {
  output_type: 'execute_result';
  execution_count: number | null;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
};
export type ErrorOutput = {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
};
export type NotebookOutput = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? { ...(value as Record<string, unknown>) }
    : {};
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((part) => typeof part === 'string').join('');
  return '';
}

/** Maps one iopub message to its nbformat output, or undefined for non-output messages. */
function toNotebookOutput(
  msgType: string,
  content: Record<string, unknown>,
): NotebookOutput | undefined {
  switch (msgType) {
    case 'stream':
      return {
        output_type: 'stream',
        name: content.name === 'stderr' ? 'stderr' : 'stdout',
        text: text(content.text),
      };
    case 'display_data':
      return {
        output_type: 'display_data',
        data: record(content.data),
        metadata: record(content.metadata),
      };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        execution_count:
          typeof content.execution_count === 'number' ? content.execution_count : null,
        data: record(content.data),
        metadata: record(content.metadata),
      };
    case 'error':
      return {
        output_type: 'error',
        ename: String(content.ename ?? ''),
        evalue: String(content.evalue ?? ''),
        traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
      };
    default:
      return undefined;
  }
}

/** Output one execution may collect unless its caller says otherwise: 10 MiB. */
export const DEFAULT_OUTPUT_BUDGET_BYTES = 10 * 1024 * 1024;

/** What an execution's output budget cut off. */
export interface OutputTruncation {
  /** The budget in bytes. */
  budgetBytes: number;
  /** Bytes of output dropped (of the outputs whose size was known). */
  droppedBytes: number;
  /** Outputs dropped whole or cut short. */
  droppedOutputs: number;
  /** Messages over the per-message limit the channel refused unread (their size is unknown). */
  refusedMessages: number;
}

/** The collected size of an output: UTF-8 bytes of its JSON (what the REST body carries). */
export function outputBytes(output: NotebookOutput): number {
  return Buffer.byteLength(JSON.stringify(output), 'utf8');
}

function mebibytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 10 ? `${Math.round(mib)} MiB` : `${Math.round(mib * 10) / 10} MiB`;
}

/** The marker text a truncated execution ends with (also sent as an output event). */
export function truncationMarker(truncation: OutputTruncation, final: boolean): string {
  const budget = mebibytes(truncation.budgetBytes);
  if (!final)
    return `\n[runyard: this execution reached its output budget of ${budget}; further output is dropped]\n`;
  const refused =
    truncation.refusedMessages > 0
      ? `; ${truncation.refusedMessages} oversized message(s) refused unread`
      : '';
  return `\n[runyard: output truncated: ${truncation.droppedBytes} bytes in ${truncation.droppedOutputs} output(s) dropped beyond this execution's output budget of ${budget}${refused}]\n`;
}

/**
 * Accumulates outputs the way a notebook frontend does: consecutive stream chunks of the same
 * name merge, `clear_output` (with `wait`) clears, `update_display_data` rewrites in place.
 *
 * Bounded: the outputs held never exceed `budgetBytes` (their JSON size). A stream chunk that
 * crosses the budget keeps what fits; anything later is counted and dropped, so a kernel that
 * prints without end costs counting, not memory. `clear_output` releases what it clears.
 */
export class OutputCollector {
  readonly outputs: NotebookOutput[] = [];
  private readonly displayIds = new Map<string, number[]>();
  private clearPending = false;
  private used = 0;
  private readonly dropped = { bytes: 0, outputs: 0, refused: 0 };
  private noticePending = false;
  private noticeSent = false;

  constructor(readonly budgetBytes: number = DEFAULT_OUTPUT_BUDGET_BYTES) {}

  /** What the budget cut off, or undefined when nothing was. */
  get truncation(): OutputTruncation | undefined {
    if (this.dropped.outputs === 0 && this.dropped.refused === 0) return undefined;
    return {
      budgetBytes: this.budgetBytes,
      droppedBytes: this.dropped.bytes,
      droppedOutputs: this.dropped.outputs,
      refusedMessages: this.dropped.refused,
    };
  }

  /** Nothing more fits: further output can be dropped without being read. */
  get spent(): boolean {
    return this.used >= this.budgetBytes;
  }

  /** Output dropped unread once {@link spent} (its size is its content frame's). */
  dropUnread(bytes: number): void {
    this.drop(bytes);
  }

  /** The channel refused a message too large to read (see KernelClientOptions.maxMessageBytes). */
  refused(): void {
    this.dropped.refused += 1;
    this.noticePending = !this.noticeSent;
  }

  /** Once, at the first truncation: the marker output to show live (an output event). */
  takeNotice(): NotebookOutput | undefined {
    if (!this.noticePending) return undefined;
    this.noticePending = false;
    this.noticeSent = true;
    const truncation = this.truncation;
    if (!truncation) return undefined;
    return { output_type: 'stream', name: 'stderr', text: truncationMarker(truncation, false) };
  }

  /** The outputs with the final marker appended when anything was dropped. */
  result(): NotebookOutput[] {
    const truncation = this.truncation;
    if (!truncation) return this.outputs;
    return [
      ...this.outputs,
      { output_type: 'stream', name: 'stderr', text: truncationMarker(truncation, true) },
    ];
  }

  private drop(bytes: number): void {
    this.dropped.bytes += bytes;
    this.dropped.outputs += 1;
    this.noticePending = !this.noticeSent;
  }

  handle(msgType: string, content: Record<string, unknown>): NotebookOutput | undefined {
    if (msgType === 'clear_output') {
      if (content.wait === true) this.clearPending = true;
      else this.clear();
      return undefined;
    }
    if (msgType === 'update_display_data') {
      const id = record(content.transient).display_id;
      if (typeof id !== 'string') return undefined;
      const indexes = this.displayIds.get(id) ?? [];
      if (indexes.length === 0) return undefined;
      const data = record(content.data);
      const metadata = record(content.metadata);
      // Counted as new output (conservatively: the replaced data is not credited back).
      const size = Buffer.byteLength(JSON.stringify({ data, metadata }), 'utf8') * indexes.length;
      if (this.used + size > this.budgetBytes) {
        this.drop(size);
        return undefined;
      }
      this.used += size;
      for (const index of indexes) {
        const existing = this.outputs[index];
        if (
          existing &&
          (existing.output_type === 'display_data' || existing.output_type === 'execute_result')
        ) {
          existing.data = data;
          existing.metadata = metadata;
        }
      }
      return undefined;
    }
    const output = toNotebookOutput(msgType, content);
    if (!output) return undefined;
    if (this.clearPending) {
      this.clear();
      this.clearPending = false;
    }
    const last = this.outputs[this.outputs.length - 1];
    const merges =
      output.output_type === 'stream' &&
      last?.output_type === 'stream' &&
      last.name === output.name;
    // A merged chunk adds its text (as JSON) only; a new output its whole envelope.
    const size =
      output.output_type === 'stream' && merges
        ? Buffer.byteLength(JSON.stringify(output.text), 'utf8') - 2
        : outputBytes(output);
    if (this.used + size > this.budgetBytes) {
      if (output.output_type !== 'stream') {
        this.drop(size);
        return undefined;
      }
      // Keep the part of the text that fits (measured the same way), drop the rest.
      const envelope = merges ? 0 : outputBytes({ ...output, text: '' });
      const room = this.budgetBytes - this.used - envelope;
      const kept = room > 0 ? fitText(output.text, room) : '';
      this.drop(size - Buffer.byteLength(JSON.stringify(kept), 'utf8') + 2);
      if (kept.length === 0) return undefined;
      output.text = kept;
      this.used = this.budgetBytes;
    } else this.used += size;
    if (output.output_type === 'stream' && merges && last?.output_type === 'stream') {
      last.text += output.text;
      return output;
    }
    this.outputs.push(output);
    const displayId = record(content.transient).display_id;
    if (typeof displayId === 'string') {
      const indexes = this.displayIds.get(displayId) ?? [];
      indexes.push(this.outputs.length - 1);
      this.displayIds.set(displayId, indexes);
    }
    return output;
  }

  private clear(): void {
    this.outputs.length = 0;
    this.displayIds.clear();
    this.used = 0;
  }
}

/** The longest prefix of `text` whose JSON-escaped UTF-8 form fits in `bytes`. */
function fitText(text: string, bytes: number): string {
  let lo = 0;
  let hi = Math.min(text.length, bytes);
  const cost = (n: number) => Buffer.byteLength(JSON.stringify(text.slice(0, n)), 'utf8') - 2;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cost(mid) <= bytes) lo = mid;
    else hi = mid - 1;
  }
  // Never end on half a surrogate pair.
  const code = text.charCodeAt(lo - 1);
  if (lo > 0 && code >= 0xd800 && code <= 0xdbff) lo -= 1;
  return text.slice(0, lo);
}
