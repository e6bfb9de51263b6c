// Loads the `{ websocket: true }` route typings (the plugin itself is registered by @runyard/http).
import type {} from '@fastify/websocket';
import { CreateWorkerRequest } from '@runyard/config-bundles';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AvailabilityResponse,
  BundlesResponse,
  CreateNotebookRequestSchema,
  ExecuteRequestSchema,
  ExecuteResultSchema,
  eventTopic,
  ManageDependenciesRequestSchema,
  NotebooksResponse,
  OpenNotebookRequestSchema,
  PoolStatusSchema,
  type RuntimeApi,
  RuntimeDescriptorSchema,
  RuntimeInfoSchema,
  WorkerInfoSchema,
  WorkersResponse,
} from '../contract.js';
import { EVENTS_READY_MESSAGE } from '../events-wire.js';

export interface RuntimeRoutesOptions {
  /**
   * A subscriber whose socket has this many bytes queued is disconnected rather than letting
   * the runtime buffer without bound (default 8 MiB). It reconnects and carries on.
   */
  maxEventBacklogBytes?: number;
}

const IdParams = z.object({ id: z.string().min(1).max(1024) });
const EVENT_TOPICS = new Set(['lifecycle', 'env', 'outputs', 'workers']);

function topicsFrom(query: unknown): Set<string> | undefined {
  const raw = (query as { topics?: unknown } | undefined)?.topics;
  if (typeof raw !== 'string' || raw === '') return undefined;
  return new Set(raw.split(',').filter((topic) => EVENT_TOPICS.has(topic)));
}

/**
 * Mounts the runtime's `/v1` API on a server made by `createHttpServer` (which supplies auth,
 * the WebSocket plugin and the error shape). Bodies, params and responses are checked against
 * the runtime contract's schemas; failures are the runtime's typed errors, mapped to statuses
 * by the server's `statusFor` (see `runtimeStatusFor`).
 */
export function registerRuntimeRoutes(
  server: FastifyInstance,
  api: RuntimeApi,
  options: RuntimeRoutesOptions = {},
): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const maxBacklog = options.maxEventBacklogBytes ?? 8 * 1024 * 1024;

  // The body limit is the server's, not the runtime's: advertised here so a client can refuse
  // an oversized request itself instead of sending it (see RemoteRuntimeHost).
  const maxRequestBytes = server.initialConfig.bodyLimit;
  app.get('/v1/runtime', { schema: { response: { 200: RuntimeDescriptorSchema } } }, async () => ({
    ...(await api.describe()),
    ...(maxRequestBytes === undefined ? {} : { maxRequestBytes }),
  }));

  app.get('/v1/config-bundles', { schema: { response: { 200: BundlesResponse } } }, async () => ({
    bundles: await api.listBundles(),
  }));

  // The bundle itself is validated by the runtime so a refusal carries its precise code.
  app.post(
    '/v1/config-bundles',
    {
      schema: {
        body: z.object({ bundle: z.unknown() }),
        response: { 200: AvailabilityResponse },
      },
    },
    async (request) => ({ availability: await api.storeBundle(request.body.bundle) }),
  );

  app.get(
    '/v1/config-bundles/:id/availability',
    {
      schema: {
        params: IdParams,
        querystring: z.object({ digest: z.string().min(1).max(256) }),
        response: { 200: AvailabilityResponse },
      },
    },
    async (request) => ({
      availability: await api.checkBundle({ id: request.params.id, digest: request.query.digest }),
    }),
  );

  app.get('/v1/workers', { schema: { response: { 200: WorkersResponse } } }, async () => ({
    workers: await api.listWorkers(),
  }));

  app.post(
    '/v1/workers',
    { schema: { body: CreateWorkerRequest, response: { 201: WorkerInfoSchema } } },
    async (request, reply) => reply.code(201).send(await api.createWorker(request.body)),
  );

  app.get(
    '/v1/workers/:id',
    { schema: { params: IdParams, response: { 200: WorkerInfoSchema } } },
    (request) => api.getWorker(request.params.id),
  );

  app.delete(
    '/v1/workers/:id',
    { schema: { params: IdParams, response: { 200: WorkerInfoSchema } } },
    (request) => api.stopWorker(request.params.id),
  );

  app.get('/v1/notebooks', { schema: { response: { 200: NotebooksResponse } } }, async () => ({
    notebooks: await api.listNotebooks(),
  }));

  app.post(
    '/v1/notebooks',
    { schema: { body: CreateNotebookRequestSchema, response: { 201: RuntimeInfoSchema } } },
    async (request, reply) => reply.code(201).send(await api.createNotebook(request.body)),
  );

  app.post(
    '/v1/notebooks/open',
    { schema: { body: OpenNotebookRequestSchema, response: { 200: RuntimeInfoSchema } } },
    (request) => api.openNotebook(request.body.path),
  );

  app.get(
    '/v1/notebooks/:id',
    { schema: { params: IdParams, response: { 200: RuntimeInfoSchema } } },
    (request) => api.getNotebook(request.params.id),
  );

  app.delete(
    '/v1/notebooks/:id',
    { schema: { params: IdParams, response: { 200: RuntimeInfoSchema } } },
    (request) => api.shutdown(request.params.id),
  );

  app.post(
    '/v1/notebooks/:id/execute',
    {
      schema: {
        params: IdParams,
        body: ExecuteRequestSchema,
        response: { 200: ExecuteResultSchema },
      },
    },
    (request) => api.execute(request.params.id, request.body),
  );

  app.post(
    '/v1/notebooks/:id/interrupt',
    { schema: { params: IdParams, response: { 200: RuntimeInfoSchema } } },
    (request) => api.interrupt(request.params.id),
  );

  app.post(
    '/v1/notebooks/:id/restart',
    { schema: { params: IdParams, response: { 200: RuntimeInfoSchema } } },
    (request) => api.restart(request.params.id),
  );

  app.post(
    '/v1/notebooks/:id/dependencies',
    {
      schema: {
        params: IdParams,
        body: ManageDependenciesRequestSchema,
        response: { 200: RuntimeInfoSchema },
      },
    },
    (request) => api.manageDependencies(request.params.id, request.body),
  );

  app.get('/v1/pool', { schema: { response: { 200: PoolStatusSchema } } }, () => api.pool());

  // `?topics=lifecycle,outputs` narrows the stream; the first message confirms the
  // subscription is live so a client knows from when on it misses nothing.
  app.get('/v1/events', { websocket: true }, (socket, request) => {
    const topics = topicsFrom(request.query);
    const unsubscribe = api.subscribe((event) => {
      if (topics !== undefined && !topics.has(eventTopic(event))) return;
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > maxBacklog) {
        socket.close(1013, 'subscriber too slow');
        return;
      }
      socket.send(JSON.stringify(event));
    });
    socket.on('close', unsubscribe);
    // Incoming messages have no meaning; ignore them rather than buffer them.
    socket.on('message', () => undefined);
    socket.send(JSON.stringify(EVENTS_READY_MESSAGE));
  });
}
