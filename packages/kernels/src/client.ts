import { randomUUID } from 'node:crypto';
import { Dealer, Subscriber } from 'zeromq';
import { type Channel, type ConnectionInfo, channelAddress } from './connection.js';
import { KernelError, type KernelErrorDetails } from './errors.js';
import {
  DEFAULT_OUTPUT_BUDGET_BYTES,
  type NotebookOutput,
  OutputCollector,
  type OutputTruncation,
} from './outputs.js';
import type { ExitInfo, ManagedProcess } from './process.js';
import { DELIMITER, type JupyterMessage, type MessageHeader, parse, serialize } from './wire.js';

export type KernelStatus = 'starting' | 'idle' | 'busy' | 'dead';
export type InterruptMode = 'signal' | 'message';

export interface KernelInfo {
  protocolVersion: string;
  implementation: string;
  languageInfo: { name: string; version?: string; fileExtension?: string; mimetype?: string };
  banner: string;
  raw: Record<string, unknown>;
}

export interface ExecuteOptions {
  /** On expiry the kernel is interrupted and the call rejects with `execute_timeout`. */
  timeoutMs?: number;
  /** On abort the kernel is interrupted and the call rejects with `execute_cancelled`. */
  signal?: AbortSignal;
  onOutput?: (output: NotebookOutput) => void;
  /** Lets the code call `input()`. Without `onInput` every prompt is answered with ''. */
  allowStdin?: boolean;
  onInput?: (request: { prompt: string; password: boolean }) => string | Promise<string>;
  silent?: boolean;
  storeHistory?: boolean;
  /**
   * Most output (bytes of nbformat JSON) this execution collects; beyond it outputs are dropped
   * and `outputs` ends with a marker saying how much (default {@link DEFAULT_OUTPUT_BUDGET_BYTES}).
   * `onOutput` stops at the budget too, after one marker output.
   */
  outputBudgetBytes?: number;
}

export interface ExecuteResult {
  status: 'ok' | 'error' | 'aborted';
  executionCount: number | null;
  /** Ends with a stderr marker output when `truncated` is set. */
  outputs: NotebookOutput[];
  error?: { ename: string; evalue: string; traceback: string[] };
  /** Set when the output budget cut output off. */
  truncated?: OutputTruncation;
}

/** What a launched kernel gives its client so it can signal, restart and reap it. */
export interface KernelRuntime {
  connection: ConnectionInfo;
  process?: ManagedProcess;
  /** Removes the connection file and ipc sockets. */
  cleanup?: () => void;
  /** Classifies a process exit during startup. */
  classifyExit?: (exit: ExitInfo, stderrTail: string[]) => KernelError;
}

export interface KernelClientOptions {
  interruptMode?: InterruptMode;
  /** Re-creates the kernel process for `restart()`. Absent for kernels we only connected to. */
  relaunch?: () => Promise<KernelRuntime>;
  heartbeatIntervalMs?: number;
  /** No heartbeat echo for this long marks the kernel dead. 0 disables the heartbeat. */
  heartbeatTimeoutMs?: number;
  /** ZeroMQ reconnect interval; low so the client connects the moment the kernel binds. */
  reconnectIntervalMs?: number;
  username?: string;
  /**
   * Largest message frame read from the kernel (default {@link DEFAULT_MAX_MESSAGE_BYTES}).
   * ZeroMQ refuses a larger one unread (it drops the connection, which reconnects at once), so
   * one enormous print cannot take the server's memory; the execution's result counts it as
   * refused.
   */
  maxMessageBytes?: number;
}

/** Per-frame read limit: the default 10 MiB budget plus framing; measured in bench/src/output-flood.ts. */
export const DEFAULT_MAX_MESSAGE_BYTES = 12 * 1024 * 1024;

export interface KernelEvents {
  status: (status: KernelStatus) => void;
  /** An incoming message failed verification and was dropped. */
  rejected: (info: { channel: Channel; reason: 'malformed' | 'bad_signature' }) => void;
  exit: (exit: ExitInfo) => void;
}

interface PendingRequest {
  resolve: (message: JupyterMessage) => void;
  reject: (error: Error) => void;
}

interface ExecuteState {
  msgId: string;
  collector: OutputCollector;
  options: ExecuteOptions;
  reply?: JupyterMessage;
  idle: boolean;
  /** Non-status iopub messages seen for this request. */
  activity: number;
  /** The settle round in flight: a kernel_info_request sent after reply and idle. */
  barrier?: { id: string; reply: boolean; idle: boolean; activityAtStart: number };
  barrierRounds: number;
  done: () => void;
  fail: (error: Error) => void;
  idleGrace?: NodeJS.Timeout;
}

interface Sockets {
  shell: Dealer;
  control: Dealer;
  stdin: Dealer;
  hb: Dealer;
  iopub: Subscriber;
}

/** Serialises sends: zeromq v6 allows one in-flight send per socket. */
class SendQueue {
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly socket: Dealer) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => undefined);
    return next;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const REPLY_AFTER_INTERRUPT_MS = 10_000;
const DELIMITER_FRAME = Buffer.from(DELIMITER);
const DELIMITER_LENGTH = DELIMITER_FRAME.length;
/** Below this a message is cheap enough to verify and parse even when it will be dropped. */
const UNREAD_DROP_MIN_BYTES = 64 * 1024;
const OUTPUT_MESSAGES = new Set([
  'stream',
  'display_data',
  'execute_result',
  'update_display_data',
  'error',
]);
const IDLE_GRACE_MS = 5000;
/** Settle rounds are repeated while outputs keep trailing in, but not forever. */
const MAX_SETTLE_ROUNDS = 5;

/**
 * A client for one kernel over the Jupyter messaging protocol (5.3). Executes run one at a time
 * in call order; every message in is signature-checked and every message out is signed.
 */
export class KernelClient {
  readonly session = randomUUID();
  private runtime: KernelRuntime;
  private sockets: Sockets | undefined;
  private sendQueues: Partial<Record<'shell' | 'control' | 'stdin' | 'hb', SendQueue>> = {};
  private readonly pending = new Map<string, PendingRequest>();
  private readonly executions = new Map<string, ExecuteState>();
  /** Settle-barrier msg_id -> the execution it settles. */
  private readonly barriers = new Map<string, ExecuteState>();
  private readonly listeners: { [K in keyof KernelEvents]: Set<KernelEvents[K]> } = {
    status: new Set(),
    rejected: new Set(),
    exit: new Set(),
  };
  private queue: Promise<unknown> = Promise.resolve();
  private currentStatus: KernelStatus = 'starting';
  private iopubProbe: ((parentId: string) => void) | undefined;
  /** iopub was re-subscribed (see watchIopub) and not yet seen to deliver. */
  private iopubUnproven = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatPending: { id: string; sentAt: number } | undefined;
  private lastHeartbeat = Date.now();
  private closed = false;
  private restarting = false;
  /** Pending restart: requests wait for it instead of writing to sockets being replaced. */
  private restartDone: Promise<unknown> | undefined;
  private info: KernelInfo | undefined;
  readonly interruptMode: InterruptMode;
  private readonly options: KernelClientOptions;

  constructor(runtime: KernelRuntime, options: KernelClientOptions = {}) {
    this.runtime = runtime;
    this.options = options;
    this.interruptMode = options.interruptMode ?? 'signal';
    this.attach(runtime);
  }

  /** Connects to a kernel this process did not start (no signals, no restart). */
  static async connect(
    connection: ConnectionInfo,
    options: KernelClientOptions & { timeoutMs?: number } = {},
  ): Promise<KernelClient> {
    const client = new KernelClient(
      { connection },
      { ...options, interruptMode: options.interruptMode ?? 'message' },
    );
    try {
      await client.waitReady({ timeoutMs: options.timeoutMs ?? 30_000 });
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  get status(): KernelStatus {
    return this.currentStatus;
  }

  get connection(): ConnectionInfo {
    return this.runtime.connection;
  }

  get pid(): number | undefined {
    return this.runtime.process?.pid;
  }

  /** True while the kernel has not been seen to die or been shut down. */
  get alive(): boolean {
    return (
      this.currentStatus !== 'dead' && !this.closed && !(this.runtime.process?.hasExited ?? false)
    );
  }

  /** The `kernel_info_reply` seen while proving the kernel ready. */
  get cachedKernelInfo(): KernelInfo | undefined {
    return this.info;
  }

  on<K extends keyof KernelEvents>(event: K, listener: KernelEvents[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Resolves on the next status equal to `status` (at once if already there). */
  waitForStatus(status: KernelStatus): Promise<void> {
    if (this.currentStatus === status) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on('status', (next) => {
        if (next === status) {
          off();
          resolve();
        }
      });
    });
  }

  private emit<K extends keyof KernelEvents>(event: K, ...args: Parameters<KernelEvents[K]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<KernelEvents[K]>) => void)(...args);
      } catch {
        // A listener's bug must not break message dispatch.
      }
    }
  }

  private setStatus(status: KernelStatus): void {
    if (this.currentStatus === status) return;
    if (this.currentStatus === 'dead' && status !== 'starting') return;
    this.currentStatus = status;
    this.emit('status', status);
  }

  private attach(runtime: KernelRuntime): void {
    this.runtime = runtime;
    this.openSockets(runtime.connection);
    const proc = runtime.process;
    if (proc) {
      void proc.exited.then((exit) => {
        if (this.runtime.process !== proc) return;
        this.emit('exit', exit);
        if (!this.restarting)
          this.markDead(
            new KernelError('kernel_dead', 'The kernel process exited', {
              details: this.exitDetails(exit),
            }),
          );
      });
    }
    this.startHeartbeat();
  }

  private exitDetails(exit: ExitInfo): KernelErrorDetails {
    return {
      exitCode: exit.code,
      signal: exit.signal,
      stderrTail: this.runtime.process?.stderr.snapshot() ?? [],
    };
  }

  private socketOptions() {
    return {
      linger: 0,
      reconnectInterval: this.options.reconnectIntervalMs ?? 10,
      maxMessageSize: this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    };
  }

  private openSockets(connection: ConnectionInfo): void {
    const common = this.socketOptions();
    // stdin must share the shell identity: the kernel routes input_request to the shell's sender.
    const identity = `runyard-${this.session}`;
    const sockets: Sockets = {
      shell: new Dealer({ ...common, routingId: identity }),
      control: new Dealer(common),
      stdin: new Dealer({ ...common, routingId: identity }),
      hb: new Dealer(common),
      iopub: new Subscriber(common),
    };
    sockets.iopub.subscribe();
    for (const channel of ['shell', 'control', 'stdin', 'hb', 'iopub'] as const) {
      sockets[channel].connect(channelAddress(connection, channel));
    }
    this.sockets = sockets;
    this.sendQueues = {
      shell: new SendQueue(sockets.shell),
      control: new SendQueue(sockets.control),
      stdin: new SendQueue(sockets.stdin),
      hb: new SendQueue(sockets.hb),
    };
    for (const channel of ['shell', 'control', 'stdin', 'iopub'] as const) {
      void this.receiveLoop(channel, sockets[channel], connection.key);
    }
    this.watchIopub(sockets, sockets.iopub);
    void this.heartbeatLoop(sockets.hb);
  }

  /**
   * A message over maxMessageSize is a protocol error to libzmq: it drops the connection unread
   * and, for that reason, never reconnects. The disconnect is the only trace, so the running
   * execution records a refused message and the client subscribes afresh; the next execute
   * first proves the new subscription live (outputs sent before it joined would be lost).
   */
  private watchIopub(sockets: Sockets, iopub: Subscriber): void {
    iopub.events.on('disconnect', () => {
      if (this.sockets !== sockets || sockets.iopub !== iopub || this.closed) return;
      for (const execution of this.executions.values()) execution.collector.refused();
      const fresh = new Subscriber(this.socketOptions());
      fresh.subscribe();
      fresh.connect(channelAddress(this.runtime.connection, 'iopub'));
      sockets.iopub = fresh;
      iopub.close();
      this.iopubUnproven = true;
      void this.receiveLoop('iopub', fresh, this.runtime.connection.key);
      this.watchIopub(sockets, fresh);
    });
  }

  /** Sends kernel_info_requests until one's iopub status arrives: the subscription is live. */
  private async proveIopub(timeoutMs: number): Promise<void> {
    const probes = new Set<string>();
    let live = false;
    let wake: (() => void) | undefined;
    this.iopubProbe = (parentId) => {
      if (probes.has(parentId)) {
        live = true;
        wake?.();
      }
    };
    const deadline = Date.now() + timeoutMs;
    try {
      while (!live && Date.now() < deadline && this.alive) {
        await this.request('shell', 'kernel_info_request', {}, timeoutMs, (id) => probes.add(id));
        if (!live)
          await Promise.race([
            new Promise<void>((resolve) => {
              wake = resolve;
            }),
            delay(100),
          ]);
      }
    } finally {
      this.iopubProbe = undefined;
    }
  }

  private closeSockets(): void {
    const sockets = this.sockets;
    this.sockets = undefined;
    if (!sockets) return;
    for (const socket of Object.values(sockets)) socket.close();
  }

  /**
   * Reads one channel until its socket is closed. It never ends silently: if reading or
   * handling fails while the socket is still this client's (a bug, memory exhaustion, a
   * message the code cannot handle), the kernel is marked dead with `kernel_channel_failed`
   * and every pending request and execution rejects with it — a dead loop would otherwise leave
   * executions waiting and the kernel looking `busy` for ever.
   */
  private async receiveLoop(
    channel: Channel,
    socket: Dealer | Subscriber,
    key: string,
  ): Promise<void> {
    let failure: unknown;
    let sinceYield = 0;
    try {
      for await (const frames of socket) {
        // zeromq hands queued messages over without returning to the event loop: under a flood
        // that would starve timers (the heartbeat check) and the other channels for as long as
        // the flood lasts. Yield every few MB or messages.
        sinceYield += 1 + (frames[frames.length - 1]?.length ?? 0) / 65_536;
        if (sinceYield >= 64) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (channel === 'iopub' && this.dropUnread(frames)) continue;
        const parsed = parse(frames, key);
        if (!parsed.ok) {
          this.emit('rejected', { channel, reason: parsed.reason });
          continue;
        }
        this.dispatch(channel, parsed.message);
      }
    } catch (error) {
      failure = error;
    }
    const ours = this.sockets !== undefined && this.sockets[channel] === socket && !socket.closed;
    if (!ours || this.closed) return; // closed under the iterator: nothing left to read
    this.markDead(
      new KernelError(
        'kernel_channel_failed',
        `Reading the kernel's ${channel} channel failed; restart the kernel`,
        failure === undefined ? undefined : { cause: failure },
      ),
    );
  }

  /**
   * Output for an execution whose budget is spent is counted and dropped without checking its
   * signature or parsing its content (the costly part of a 10 MB message); only the small
   * header frames are read to route it. Unverified routing can only cause a drop of output
   * that could not be kept anyway. Small messages take the normal path.
   */
  private dropUnread(frames: readonly Buffer[]): boolean {
    const at = frames.findIndex(
      (frame) => frame.length === DELIMITER_LENGTH && frame.equals(DELIMITER_FRAME),
    );
    const content = frames[at + 5];
    if (at < 0 || !content || content.length < UNREAD_DROP_MIN_BYTES) return false;
    try {
      const header = JSON.parse((frames[at + 2] as Buffer).toString('utf8')) as {
        msg_type?: unknown;
      };
      if (typeof header.msg_type !== 'string' || !OUTPUT_MESSAGES.has(header.msg_type))
        return false;
      const parent = JSON.parse((frames[at + 3] as Buffer).toString('utf8')) as {
        msg_id?: unknown;
      };
      const execution =
        typeof parent.msg_id === 'string' ? this.executions.get(parent.msg_id) : undefined;
      if (!execution?.collector.spent) return false;
      execution.activity += 1;
      execution.collector.dropUnread(content.length);
      return true;
    } catch {
      return false;
    }
  }

  private dispatch(channel: Channel, message: JupyterMessage): void {
    const parentId = message.parentHeader.msg_id;
    if (channel === 'iopub') {
      if (parentId) this.iopubProbe?.(parentId);
      const isStatus = message.header.msg_type === 'status';
      const isIdle = isStatus && message.content.execution_state === 'idle';
      if (isStatus) {
        const state = message.content.execution_state;
        if (state === 'busy' || state === 'idle' || state === 'starting') this.setStatus(state);
      }
      const settling = parentId ? this.barriers.get(parentId) : undefined;
      if (settling) {
        const barrier = settling.barrier;
        if (isIdle && barrier && barrier.id === parentId) {
          barrier.idle = true;
          this.maybeFinish(settling);
        }
        return;
      }
      const execution = parentId ? this.executions.get(parentId) : undefined;
      if (!execution) return;
      if (isStatus) {
        if (isIdle) {
          execution.idle = true;
          this.maybeFinish(execution);
        }
        return;
      }
      execution.activity += 1;
      const output = execution.collector.handle(message.header.msg_type, message.content);
      if (output) this.forward(execution, output);
      const notice = execution.collector.takeNotice();
      if (notice) this.forward(execution, notice);
      return;
    }
    if (channel === 'stdin') {
      if (message.header.msg_type === 'input_request') void this.answerInput(message);
      return;
    }
    if (!parentId) return;
    const settling = this.barriers.get(parentId);
    if (settling) {
      const barrier = settling.barrier;
      if (barrier && barrier.id === parentId) {
        barrier.reply = true;
        this.maybeFinish(settling);
      }
      return;
    }
    const request = this.pending.get(parentId);
    if (request) {
      this.pending.delete(parentId);
      request.resolve(message);
      return;
    }
    const execution = this.executions.get(parentId);
    if (execution && message.header.msg_type === 'execute_reply') {
      execution.reply = message;
      if (!execution.idle) {
        // Outputs travel on iopub and may trail the reply; wait for idle, but not forever.
        execution.idleGrace = setTimeout(() => {
          execution.idle = true;
          this.maybeFinish(execution);
        }, IDLE_GRACE_MS);
        execution.idleGrace.unref();
      }
      this.maybeFinish(execution);
    }
  }

  /** A caller's output callback: its failure is its own and must not stop the channel. */
  private forward(execution: ExecuteState, output: NotebookOutput): void {
    try {
      execution.options.onOutput?.(output);
    } catch {
      // the output is still collected in the result
    }
  }

  /**
   * An execution is complete once its `execute_reply` and its iopub `idle` arrived AND a settle
   * round found nothing trailing. The round is a `kernel_info_request` on shell: the kernel
   * handles shell requests in order, so by the time that request's `idle` arrives the kernel
   * has published whatever it had queued before it. Needed because a kernel may publish outputs
   * after `idle` (Deno's kernel publishes stream and execute_result from a separate drainer that
   * races the status messages), which a client that stops at `idle` silently drops. Rounds repeat
   * while outputs keep arriving during them (bounded by MAX_SETTLE_ROUNDS).
   */
  private maybeFinish(execution: ExecuteState): void {
    if (!execution.reply || !execution.idle) return;
    const barrier = execution.barrier;
    if (barrier && !(barrier.reply && barrier.idle)) return;
    // ipykernel publishes every output before the `idle` on the same iopub socket, so its
    // executes need no settle round (and no extra busy/idle pair on iopub).
    const ordered = this.info?.implementation === 'ipython';
    const trailing = barrier ? execution.activity > barrier.activityAtStart : !ordered;
    if (trailing && execution.barrierRounds < MAX_SETTLE_ROUNDS && !this.closed) {
      this.startSettleRound(execution);
      return;
    }
    this.releaseSettle(execution);
    execution.done();
  }

  private startSettleRound(execution: ExecuteState): void {
    if (execution.barrier) this.barriers.delete(execution.barrier.id);
    const id = randomUUID();
    execution.barrier = { id, reply: false, idle: false, activityAtStart: execution.activity };
    execution.barrierRounds += 1;
    this.barriers.set(id, execution);
    // A kernel that never answers must not hold the execution (and the queue) forever.
    clearTimeout(execution.idleGrace);
    execution.idleGrace = setTimeout(() => this.settleNow(execution), IDLE_GRACE_MS);
    execution.idleGrace.unref();
    this.send('shell', 'kernel_info_request', {}, { msgId: id }).catch(() =>
      this.settleNow(execution),
    );
  }

  /** Completes an execution whose reply and idle arrived without waiting for more rounds. */
  private settleNow(execution: ExecuteState): void {
    if (this.executions.get(execution.msgId) !== execution) return;
    this.releaseSettle(execution);
    execution.done();
  }

  private releaseSettle(execution: ExecuteState): void {
    clearTimeout(execution.idleGrace);
    if (execution.barrier) this.barriers.delete(execution.barrier.id);
    execution.barrier = undefined;
  }

  private async answerInput(request: JupyterMessage): Promise<void> {
    const parentId = request.parentHeader.msg_id;
    const execution = parentId ? this.executions.get(parentId) : undefined;
    let value = '';
    const handler = execution?.options.onInput;
    if (handler) {
      try {
        value = await handler({
          prompt: String(request.content.prompt ?? ''),
          password: request.content.password === true,
        });
      } catch {
        value = '';
      }
    }
    // Always answer: an unanswered input_request blocks the kernel forever.
    await this.send('stdin', 'input_reply', { value }, { parentHeader: request.header }).catch(
      () => undefined,
    );
  }

  private async send(
    channel: 'shell' | 'control' | 'stdin',
    msgType: string,
    content: Record<string, unknown>,
    extra: { parentHeader?: Partial<MessageHeader>; msgId?: string } = {},
  ): Promise<MessageHeader> {
    const queue = this.sendQueues[channel];
    if (!queue || this.closed)
      throw new KernelError('kernel_shutdown', 'The kernel client is closed');
    const { header, frames } = serialize(
      {
        msgType,
        content,
        session: this.session,
        username: this.options.username ?? 'runyard',
        ...extra,
      },
      this.runtime.connection.key,
    );
    await queue.send(frames);
    return header;
  }

  /** Sends a request and resolves with its reply (matched by parent msg_id). */
  private request(
    channel: 'shell' | 'control',
    msgType: string,
    content: Record<string, unknown>,
    timeoutMs: number,
    onSent?: (msgId: string) => void,
  ): Promise<JupyterMessage> {
    if (this.currentStatus === 'dead' && !this.restarting) {
      return Promise.reject(new KernelError('kernel_dead', 'The kernel is dead'));
    }
    const msgId = randomUUID();
    return new Promise<JupyterMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgId);
        reject(
          new KernelError(
            'request_timeout',
            `No ${msgType.replace('_request', '_reply')} arrived in time`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.pending.set(msgId, {
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      onSent?.(msgId);
      this.send(channel, msgType, content, { msgId }).catch((error: unknown) => {
        this.pending.get(msgId)?.reject(error instanceof Error ? error : new Error(String(error)));
        this.pending.delete(msgId);
      });
    });
  }

  async kernelInfo(timeoutMs = 10_000): Promise<KernelInfo> {
    if (this.restartDone) await this.restartDone.catch(() => undefined);
    const reply = await this.request('shell', 'kernel_info_request', {}, timeoutMs);
    this.info = toKernelInfo(reply.content);
    return this.info;
  }

  /**
   * Resolves once a kernel_info_reply arrived AND an iopub message answering one of our probes
   * did: a reply alone does not prove the SUB socket has joined, and outputs sent before it
   * joins are lost. Races the process exit, the timeout and the abort signal.
   */
  async waitReady(options: { timeoutMs: number; signal?: AbortSignal }): Promise<KernelInfo> {
    const probes = new Set<string>();
    let iopubLive = false;
    let wakeIopub: (() => void) | undefined;
    this.iopubProbe = (parentId) => {
      if (probes.has(parentId)) {
        iopubLive = true;
        wakeIopub?.();
      }
    };
    const proc = this.runtime.process;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const failure = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KernelError('kernel_start_timeout', 'The kernel did not become ready in time', {
              details: { stderrTail: proc?.stderr.snapshot() ?? [] },
            }),
          ),
        options.timeoutMs,
      );
      timer.unref();
      if (options.signal) {
        onAbort = () => reject(new KernelError('launch_aborted', 'The kernel launch was aborted'));
        if (options.signal.aborted) onAbort();
        else options.signal.addEventListener('abort', onAbort, { once: true });
      }
      if (proc) {
        void proc.exited.then((exit) => {
          const tail = proc.stderr.snapshot();
          reject(
            this.runtime.classifyExit?.(exit, tail) ??
              new KernelError('kernel_exited', 'The kernel exited during startup', {
                details: { exitCode: exit.code, signal: exit.signal, stderrTail: tail },
              }),
          );
        });
      }
    });
    failure.catch(() => undefined);
    const probe = async (): Promise<KernelInfo> => {
      for (;;) {
        const reply = await this.request(
          'shell',
          'kernel_info_request',
          {},
          options.timeoutMs,
          (id) => probes.add(id),
        );
        this.info = toKernelInfo(reply.content);
        if (!iopubLive) {
          await Promise.race([
            new Promise<void>((resolve) => {
              wakeIopub = resolve;
            }),
            delay(100),
          ]);
        }
        if (iopubLive) return this.info;
      }
    };
    try {
      const info = await Promise.race([probe(), failure]);
      this.setStatus('idle');
      return info;
    } finally {
      this.iopubProbe = undefined;
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Runs `code`; calls are queued and run strictly in call order. */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const run = this.queue.then(() => this.runExecute(code, options));
    this.queue = run.then(
      (result) => result.settled,
      () => undefined,
    );
    return run.then((result) => result.outcome);
  }

  private async runExecute(
    code: string,
    options: ExecuteOptions,
  ): Promise<{ outcome: Promise<ExecuteResult>; settled: Promise<void> }> {
    if (this.restartDone) await this.restartDone.catch(() => undefined);
    if (!this.alive) {
      return {
        outcome: Promise.reject(new KernelError('kernel_dead', 'The kernel is dead')),
        settled: Promise.resolve(),
      };
    }
    if (this.iopubUnproven) {
      this.iopubUnproven = false;
      await this.proveIopub(10_000).catch(() => undefined);
    }
    const msgId = randomUUID();
    let finish!: () => void;
    let failWith!: (error: Error) => void;
    // `settled` is when the kernel has really finished with this request, which can be later than
    // the caller's promise (timeouts reject at once but the next execute waits for the reply).
    const settled = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const outcome = new Promise<ExecuteResult>((resolve, reject) => {
      failWith = reject;
      const state: ExecuteState = {
        msgId,
        collector: new OutputCollector(options.outputBudgetBytes ?? DEFAULT_OUTPUT_BUDGET_BYTES),
        options,
        idle: false,
        activity: 0,
        barrierRounds: 0,
        done: () => {
          cleanup();
          this.executions.delete(msgId);
          finish();
          resolve(toExecuteResult(state));
        },
        fail: (error) => {
          cleanup();
          this.releaseSettle(state);
          this.executions.delete(msgId);
          finish();
          reject(error);
        },
      };
      this.executions.set(msgId, state);
    });
    outcome.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const giveUp = (error: KernelError) => {
      const state = this.executions.get(msgId);
      if (!state) return;
      failWith(error);
      // Keep the queue slot until the kernel answers so the interrupt (or one of its repeats)
      // cannot land in the next request.
      // ipykernel ignores SIGINT between cells, so an interrupt that lands before the cell starts
      // is lost: repeat it until the kernel answers (bounded).
      const retry = setInterval(() => this.interrupt().catch(() => undefined), 1000);
      retry.unref();
      const bound = setTimeout(() => state.done(), REPLY_AFTER_INTERRUPT_MS);
      bound.unref();
      state.done = () => {
        clearInterval(retry);
        clearTimeout(bound);
        this.releaseSettle(state);
        this.executions.delete(msgId);
        finish();
      };
      state.fail = state.done;
      state.options = {};
      this.interrupt().catch(() => undefined);
    };
    const onAbort = () =>
      giveUp(new KernelError('execute_cancelled', 'The execution was cancelled'));
    const cleanup = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    if (options.signal?.aborted) {
      this.executions
        .get(msgId)
        ?.fail(new KernelError('execute_cancelled', 'The execution was cancelled'));
      return { outcome, settled };
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => giveUp(new KernelError('execute_timeout', 'The execution timed out')),
        options.timeoutMs,
      );
      timer.unref();
    }
    const allowStdin = options.allowStdin ?? options.onInput !== undefined;
    this.send(
      'shell',
      'execute_request',
      {
        code,
        silent: options.silent ?? false,
        store_history: options.storeHistory ?? !(options.silent ?? false),
        user_expressions: {},
        allow_stdin: allowStdin,
        // Executes are queued here and sent one at a time, so the kernel never holds a second
        // request of ours for stop_on_error to abort. With it on, ipykernel aborts every
        // execute_request that reaches it before its deferred "stop aborting" callback runs,
        // which can be after it has already published the failed cell's reply and idle: the
        // next cell, sent at once, then comes back `aborted` with no outputs.
        stop_on_error: false,
      },
      { msgId },
    ).catch((error: unknown) => {
      this.executions.get(msgId)?.fail(error instanceof Error ? error : new Error(String(error)));
    });
    return { outcome, settled };
  }

  /** Interrupts the running cell: `interrupt_request` on control in message mode, else SIGINT. */
  async interrupt(): Promise<void> {
    const proc = this.runtime.process;
    if (this.interruptMode === 'signal' && proc) {
      proc.signal('SIGINT');
      return;
    }
    await this.request('control', 'interrupt_request', {}, 5000);
  }

  /** Replaces the kernel process with a fresh one; this client stays usable. */
  async restart(options: { timeoutMs?: number } = {}): Promise<KernelInfo> {
    const relaunch = this.options.relaunch;
    if (!relaunch)
      throw new KernelError(
        'kernel_shutdown',
        'This kernel was not launched here and cannot be restarted',
      );
    if (this.closed) throw new KernelError('kernel_shutdown', 'The kernel client is closed');
    if (this.restartDone) await this.restartDone.catch(() => undefined);
    const done = this.doRestart(relaunch, options.timeoutMs ?? 60_000);
    this.restartDone = done;
    try {
      return await done;
    } finally {
      if (this.restartDone === done) this.restartDone = undefined;
    }
  }

  private async doRestart(
    relaunch: () => Promise<KernelRuntime>,
    timeoutMs: number,
  ): Promise<KernelInfo> {
    this.restarting = true;
    try {
      this.setStatus('starting');
      await this.stopKernel(true);
      this.failAll(new KernelError('kernel_dead', 'The kernel was restarted'));
      this.stopHeartbeat();
      this.closeSockets();
      this.runtime.cleanup?.();
      this.attach(await relaunch());
      return await this.waitReady({ timeoutMs });
    } catch (error) {
      this.markDead(
        error instanceof KernelError
          ? error
          : new KernelError('kernel_dead', 'The kernel restart failed', { cause: error }),
      );
      throw error;
    } finally {
      this.restarting = false;
    }
  }

  /** Graceful `shutdown_request`, then SIGTERM, then SIGKILL; always releases files and sockets. */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    await this.stopKernel(false, options.graceMs);
    await this.close();
  }

  private async stopKernel(restart: boolean, graceMs = 2000): Promise<void> {
    const proc = this.runtime.process;
    if (proc?.hasExited) return;
    if (this.currentStatus !== 'dead' || this.restarting) {
      await this.request('control', 'shutdown_request', { restart }, graceMs).catch(
        () => undefined,
      );
    }
    if (proc) {
      if (!(await proc.waitExit(graceMs))) await proc.terminate(graceMs);
    }
  }

  /** Closes sockets and removes the kernel's files without asking the kernel anything. */
  async close(): Promise<void> {
    if (this.closed) return;
    const proc = this.runtime.process;
    if (proc && !proc.hasExited) await proc.terminate(1000);
    this.closed = true;
    this.stopHeartbeat();
    this.failAll(new KernelError('kernel_shutdown', 'The kernel was shut down'));
    this.closeSockets();
    this.runtime.cleanup?.();
    this.setStatus('dead');
  }

  private failAll(error: KernelError): void {
    for (const [id, request] of this.pending) {
      this.pending.delete(id);
      request.reject(error);
    }
    for (const execution of [...this.executions.values()]) {
      // Reply and idle arrived: only the settle round was outstanding, the result stands.
      if (execution.reply && execution.idle) this.settleNow(execution);
      else execution.fail(error);
    }
  }

  private markDead(error: KernelError): void {
    this.stopHeartbeat();
    this.failAll(error);
    this.setStatus('dead');
    // Nobody will talk to a dead kernel again; release its files now.
    const proc = this.runtime.process;
    if (proc && !proc.hasExited) proc.signal('SIGKILL');
    this.runtime.cleanup?.();
  }

  private startHeartbeat(): void {
    const timeoutMs = this.options.heartbeatTimeoutMs ?? 30_000;
    if (timeoutMs <= 0) return;
    const intervalMs = this.options.heartbeatIntervalMs ?? 1000;
    this.lastHeartbeat = Date.now();
    this.heartbeatPending = undefined;
    let lastTick = Date.now();
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // A tick this late means this process was busy, not the kernel silent: an echo may be
      // sitting unread. Judge the kernel only on time this process was listening.
      const lagged = now - lastTick > Math.max(intervalMs * 5, timeoutMs / 3);
      lastTick = now;
      if (this.restarting || this.currentStatus === 'starting' || lagged) {
        this.lastHeartbeat = now;
        return;
      }
      if (Date.now() - this.lastHeartbeat > timeoutMs) {
        this.markDead(new KernelError('kernel_dead', 'The kernel stopped answering heartbeats'));
        return;
      }
      if (this.heartbeatPending) return;
      const id = randomUUID();
      this.heartbeatPending = { id, sentAt: Date.now() };
      this.sendQueues.hb?.send([Buffer.alloc(0), Buffer.from(id)]).catch(() => undefined);
    }, intervalMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private async heartbeatLoop(socket: Dealer): Promise<void> {
    try {
      for await (const frames of socket) {
        const id = frames[frames.length - 1]?.toString();
        if (this.heartbeatPending && id === this.heartbeatPending.id) {
          this.heartbeatPending = undefined;
          this.lastHeartbeat = Date.now();
        }
      }
    } catch {
      // closed
    }
  }
}

function toKernelInfo(content: Record<string, unknown>): KernelInfo {
  const language =
    typeof content.language_info === 'object' && content.language_info !== null
      ? (content.language_info as Record<string, unknown>)
      : {};
  const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    protocolVersion: str(content.protocol_version) ?? '',
    implementation: str(content.implementation) ?? '',
    languageInfo: {
      name: str(language.name) ?? '',
      ...(str(language.version) ? { version: str(language.version) } : {}),
      ...(str(language.file_extension) ? { fileExtension: str(language.file_extension) } : {}),
      ...(str(language.mimetype) ? { mimetype: str(language.mimetype) } : {}),
    },
    banner: str(content.banner) ?? '',
    raw: content,
  };
}

function toExecuteResult(state: ExecuteState): ExecuteResult {
  const content = state.reply?.content ?? {};
  const status = content.status === 'ok' || content.status === 'aborted' ? content.status : 'error';
  const executionCount =
    typeof content.execution_count === 'number' ? content.execution_count : null;
  const result: ExecuteResult = { status, executionCount, outputs: state.collector.result() };
  const truncated = state.collector.truncation;
  if (truncated) result.truncated = truncated;
  if (status === 'error') {
    result.error = {
      ename: String(content.ename ?? ''),
      evalue: String(content.evalue ?? ''),
      traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
    };
  }
  return result;
}
