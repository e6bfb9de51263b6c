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

/**
 * Accumulates outputs the way a notebook frontend does: consecutive stream chunks of the same
 * name merge, `clear_output` (with `wait`) clears, `update_display_data` rewrites in place.
 */
export class OutputCollector {
  readonly outputs: NotebookOutput[] = [];
  private readonly displayIds = new Map<string, number[]>();
  private clearPending = false;

  handle(msgType: string, content: Record<string, unknown>): NotebookOutput | undefined {
    if (msgType === 'clear_output') {
      if (content.wait === true) this.clearPending = true;
      else this.clear();
      return undefined;
    }
    if (msgType === 'update_display_data') {
      const id = record(content.transient).display_id;
      if (typeof id !== 'string') return undefined;
      for (const index of this.displayIds.get(id) ?? []) {
        const existing = this.outputs[index];
        if (
          existing &&
          (existing.output_type === 'display_data' || existing.output_type === 'execute_result')
        ) {
          existing.data = record(content.data);
          existing.metadata = record(content.metadata);
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
    if (
      output.output_type === 'stream' &&
      last?.output_type === 'stream' &&
      last.name === output.name
    ) {
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
  }
}
