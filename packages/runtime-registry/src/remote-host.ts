import { inspect } from 'node:util';
import WebSocket from 'ws';
import type { z } from 'zod';
import {
  AvailabilityResponse,
  type BundleAvailability,
  type BundleSummary,
  BundlesResponse,
  type CreateNotebookRequest,
  type ExecuteRequest,
  type ExecuteResult,
  ExecuteResultSchema,
  type ManageDependenciesRequest,
  NotebooksResponse,
  type PoolStatus,
  PoolStatusSchema,
  type RuntimeDescriptor,
  RuntimeDescriptorSchema,
  type RuntimeEvent,
  RuntimeEventSchema,
  type RuntimeHost,
  type RuntimeInfo,
  RuntimeInfoSchema,
  type WorkerInfo,
  WorkerInfoSchema,
  WorkersResponse,
} from './contract.js';
import { RuntimeError } from './errors.js';
import { EVENTS_READY_MESSAGE } from './events-wire.js';
import { pathSegment } from './path-segment.js';
import { malformedResponseError, sanitiseRemoteError, unreachableError } from './remote-errors.js';

type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RemoteRuntimeHostOptions {
  /** The registry id of this runtime. */
  id: string;
  /**
   * Base URL of the runtime server (`http(s)://host:port[/prefix]`), without `/v1`. Credentials
   * in the URL are never sent as part of it: a password (or a lone username) is used as the
   * bearer token when `token` is not given.
   */
  url: string;
  token?: string;
  /** Default: the global `fetch`. */
  fetch?: FetchLike;
  /** Per-call timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Execute calls wait for the execution's own timeout (or this default, 10 min) plus 5 s. */
  executeTimeoutMs?: number;
  /** Delay before reconnecting a dropped event stream (default 1 s, doubling up to 30 s). */
  reconnectDelayMs?: number;
  /** Largest response body or event message accepted (default 64 MiB). */
  maxResponseBytes?: number;
  /**
   * Largest request body sent, in bytes. Default: the limit the runtime advertises in
   * `describe()` (`maxRequestBytes`), learned before the first body larger than 1 MiB is sent.
   */
  maxRequestBytes?: number;
}

const EXECUTE_GRACE_MS = 5_000;

/**
 * Bodies up to this size are sent before the runtime's limit is known: no Runyard server
 * accepts less by default (the workspace server 1 MiB, the /v1 server 2 MiB).
 */
const UNCHECKED_BODY_BYTES = 1024 * 1024;

class ResponseTooLarge extends Error {}

/** Reads a body as text, giving up past `limit` bytes so a hostile remote cannot exhaust memory. */
async function readText(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new ResponseTooLarge();
  }
  if (response.body === null) return '';
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  let size = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ResponseTooLarge();
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
const MAX_RECONNECT_DELAY_MS = 30_000;

function parseBaseUrl(raw: string): { base: URL; credential: string | undefined } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RuntimeError('invalid_request', 'the remote runtime URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RuntimeError('invalid_request', 'the remote runtime URL must be http or https');
  }
  const secret = url.password || url.username;
  const credential = secret ? decodeURIComponent(secret) : undefined;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/+$/, '');
  return { base: url, credential };
}

/**
 * A runtime reached over its `/v1` HTTP API, with events over a WebSocket. Every failure is a
 * `RuntimeError` whose message is a fixed text (see `sanitiseRemoteError`): nothing the remote
 * writes into an error message reaches a caller.
 */
export class RemoteRuntimeHost implements RuntimeHost {
  readonly id: string;
  readonly kind = 'remote' as const;
  /** The base URL without credentials. */
  readonly url: string;

  readonly #base: string;
  readonly #token: string | undefined;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;
  readonly #executeTimeoutMs: number;
  readonly #reconnectDelayMs: number;
  readonly #maxResponseBytes: number;
  readonly #fixedMaxRequestBytes: boolean;
  #maxRequestBytes: number | undefined;
  readonly #closing = new AbortController();
  readonly #listeners = new Set<(event: RuntimeEvent) => void>();
  #socket: WebSocket | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempts = 0;
  #ready: { promise: Promise<void>; resolve: () => void } = RemoteRuntimeHost.#deferred();

  constructor(options: RemoteRuntimeHostOptions) {
    const { base, credential } = parseBaseUrl(options.url);
    this.id = options.id;
    this.url = base.toString().replace(/\/$/, '');
    this.#base = this.url;
    this.#token = options.token ?? credential;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#executeTimeoutMs = options.executeTimeoutMs ?? 600_000;
    this.#reconnectDelayMs = options.reconnectDelayMs ?? 1_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
    this.#fixedMaxRequestBytes = options.maxRequestBytes !== undefined;
    this.#maxRequestBytes = options.maxRequestBytes;
  }

  static #deferred(): { promise: Promise<void>; resolve: () => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    return { promise, resolve };
  }

  toJSON(): { id: string; kind: 'remote'; url: string } {
    return { id: this.id, kind: this.kind, url: this.url };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `RemoteRuntimeHost ${inspect(this.toJSON(), options)}`;
  }

  async #call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: z.ZodType<T>,
    body?: unknown,
    timeoutMs = this.#timeoutMs,
  ): Promise<T> {
    if (this.#closing.signal.aborted) {
      throw new RuntimeError('runtime_closed', 'the runtime host is closed');
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) await this.#checkRequestSize(Buffer.byteLength(payload));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#closing.signal]);
    let status = 0;
    let text: string;
    try {
      const response = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal,
        // A redirect could carry the bearer token to another host.
        redirect: 'error',
      });
      status = response.status;
      text = await readText(response, this.#maxResponseBytes);
    } catch (error) {
      if (error instanceof ResponseTooLarge) {
        throw new RuntimeError(
          'remote_runtime_http_error',
          'the remote runtime sent a response larger than the limit',
          { status },
        );
      }
      // The cause is dropped on purpose: it can name the host, the port or the remote's words.
      if (this.#closing.signal.aborted) {
        throw new RuntimeError('runtime_closed', 'the runtime host is closed');
      }
      throw unreachableError();
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status < 200 || status > 299) throw sanitiseRemoteError(status, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw malformedResponseError(status);
    return parsed.data;
  }

  /**
   * Refuses a body the runtime would refuse, without sending it. A server answering 413 while
   * the client still uploads can reset the connection before the client reads the answer, so
   * the caller would see `remote_runtime_unreachable` instead of `body_too_large`; the server
   * drains to avoid that, and the client does not rely on it.
   */
  async #checkRequestSize(size: number): Promise<void> {
    if (this.#maxRequestBytes === undefined && size > UNCHECKED_BODY_BYTES) await this.describe();
    const limit = this.#maxRequestBytes;
    if (limit !== undefined && size > limit) {
      throw new RuntimeError(
        'body_too_large',
        `the request body (${size} bytes) is larger than the remote runtime accepts (${limit} bytes)`,
        { status: 413 },
      );
    }
  }

  async describe(): Promise<RuntimeDescriptor> {
    const descriptor = await this.#call('GET', '/v1/runtime', RuntimeDescriptorSchema);
    if (!this.#fixedMaxRequestBytes && descriptor.maxRequestBytes !== undefined) {
      this.#maxRequestBytes = descriptor.maxRequestBytes;
    }
    return descriptor;
  }

  async storeBundle(bundle: unknown): Promise<BundleAvailability> {
    const { availability } = await this.#call('POST', '/v1/config-bundles', AvailabilityResponse, {
      bundle,
    });
    return availability;
  }

  async listBundles(): Promise<BundleSummary[]> {
    return (await this.#call('GET', '/v1/config-bundles', BundlesResponse)).bundles;
  }

  async checkBundle(ref: { id: string; digest: string }): Promise<BundleAvailability> {
    const path = `/v1/config-bundles/${pathSegment(ref.id)}/availability?digest=${encodeURIComponent(ref.digest)}`;
    return (await this.#call('GET', path, AvailabilityResponse)).availability;
  }

  async createWorker(request: unknown): Promise<WorkerInfo> {
    return this.#call('POST', '/v1/workers', WorkerInfoSchema, request);
  }

  async getWorker(workerId: string): Promise<WorkerInfo> {
    return this.#call('GET', `/v1/workers/${pathSegment(workerId)}`, WorkerInfoSchema);
  }

  async listWorkers(): Promise<WorkerInfo[]> {
    return (await this.#call('GET', '/v1/workers', WorkersResponse)).workers;
  }

  async stopWorker(workerId: string): Promise<WorkerInfo> {
    return this.#call('DELETE', `/v1/workers/${pathSegment(workerId)}`, WorkerInfoSchema);
  }

  async createNotebook(request: CreateNotebookRequest): Promise<RuntimeInfo> {
    return this.#call('POST', '/v1/notebooks', RuntimeInfoSchema, request);
  }

  async openNotebook(path: string): Promise<RuntimeInfo> {
    return this.#call('POST', '/v1/notebooks/open', RuntimeInfoSchema, { path });
  }

  async getNotebook(notebookId: string): Promise<RuntimeInfo> {
    return this.#call('GET', `/v1/notebooks/${pathSegment(notebookId)}`, RuntimeInfoSchema);
  }

  async listNotebooks(): Promise<RuntimeInfo[]> {
    return (await this.#call('GET', '/v1/notebooks', NotebooksResponse)).notebooks;
  }

  async execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    const timeout = (request.timeoutMs ?? this.#executeTimeoutMs) + EXECUTE_GRACE_MS;
    return this.#call(
      'POST',
      `/v1/notebooks/${pathSegment(notebookId)}/execute`,
      ExecuteResultSchema,
      request,
      timeout,
    );
  }

  async interrupt(notebookId: string): Promise<RuntimeInfo> {
    return this.#notebookAction(notebookId, 'interrupt');
  }

  async restart(notebookId: string): Promise<RuntimeInfo> {
    return this.#notebookAction(notebookId, 'restart');
  }

  async shutdown(notebookId: string): Promise<RuntimeInfo> {
    return this.#call('DELETE', `/v1/notebooks/${pathSegment(notebookId)}`, RuntimeInfoSchema);
  }

  async manageDependencies(
    notebookId: string,
    request: ManageDependenciesRequest,
  ): Promise<RuntimeInfo> {
    return this.#call(
      'POST',
      `/v1/notebooks/${pathSegment(notebookId)}/dependencies`,
      RuntimeInfoSchema,
      request,
    );
  }

  async #notebookAction(notebookId: string, action: 'interrupt' | 'restart'): Promise<RuntimeInfo> {
    return this.#call(
      'POST',
      `/v1/notebooks/${pathSegment(notebookId)}/${action}`,
      RuntimeInfoSchema,
      {},
    );
  }

  async pool(): Promise<PoolStatus> {
    return this.#call('GET', '/v1/pool', PoolStatusSchema);
  }

  /**
   * Opens the event stream with the first listener and closes it with the last. A dropped
   * stream reconnects with backoff while anyone listens; events emitted while it is down are
   * not replayed.
   */
  subscribe(listener: (event: RuntimeEvent) => void): () => void {
    if (this.#closing.signal.aborted) {
      throw new RuntimeError('runtime_closed', 'the runtime host is closed');
    }
    this.#listeners.add(listener);
    if (this.#socket === undefined && this.#reconnectTimer === undefined) this.#connect();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#disconnect();
    };
  }

  /** Resolves once the server confirmed the current event subscription is live. */
  whenSubscribed(): Promise<void> {
    return this.#ready.promise;
  }

  #connect(): void {
    const wsUrl = `${this.#base.replace(/^http/, 'ws')}/v1/events`;
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const socket = new WebSocket(wsUrl, {
      headers,
      handshakeTimeout: this.#timeoutMs,
      followRedirects: false,
      maxPayload: this.#maxResponseBytes,
    });
    this.#socket = socket;
    socket.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(String(data));
      } catch {
        return;
      }
      if ((message as { type?: unknown } | null)?.type === EVENTS_READY_MESSAGE.type) {
        this.#reconnectAttempts = 0;
        this.#ready.resolve();
        return;
      }
      const parsed = RuntimeEventSchema.safeParse(message);
      if (!parsed.success) return;
      for (const listener of [...this.#listeners]) {
        try {
          listener(parsed.data);
        } catch {
          // One failing listener must not starve the others.
        }
      }
    });
    // Errors (refused, 401, reset) surface as a close; the details may name the host.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#ready = RemoteRuntimeHost.#deferred();
      if (this.#listeners.size > 0 && !this.#closing.signal.aborted) this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    const delay = Math.min(
      this.#reconnectDelayMs * 2 ** this.#reconnectAttempts,
      MAX_RECONNECT_DELAY_MS,
    );
    this.#reconnectAttempts += 1;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#listeners.size > 0 && !this.#closing.signal.aborted) this.#connect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  #disconnect(): void {
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#ready = RemoteRuntimeHost.#deferred();
    socket?.terminate();
  }

  /** Aborts calls in flight (they fail with `runtime_closed`) and drops the event stream. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#listeners.clear();
    this.#disconnect();
  }
}
