import { CreateWorkerRequest } from '@runyard/config-bundles';
import {
  BundleAvailabilitySchema,
  BundleSyncResultSchema,
  RuntimeEntrySchema,
  RuntimeError,
  RuntimeHealthSchema,
  WorkerInfoSchema,
} from '@runyard/runtime-registry';
import { z } from 'zod';
import { WorkspaceError } from '../errors.js';
import type { WorkspaceServices } from '../services.js';
import { errors, IdParams, IdSchema, type WorkspaceApp } from './schemas.js';

const RegisterRuntimeSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, underscore and hyphen'),
  url: z.string().min(1).max(2048),
  token: z.string().min(1).max(4096),
});

/** A runtime's URL as it is safe to show: no userinfo, query or fragment. */
export function checkRuntimeUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WorkspaceError('invalid_runtime_url', 'url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WorkspaceError('invalid_runtime_url', 'url must be an absolute http(s) URL');
  }
  return url;
}

const WorkerBody = CreateWorkerRequest.extend({
  runtimeId: IdSchema.optional(),
  /** Synced to the runtime first when it lacks it. */
  bundle: z.unknown().optional(),
});

export function registerRuntimeRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  const { registry } = services;
  const tags = ['runtimes'];

  app.get(
    '/api/runtimes',
    {
      schema: {
        tags,
        summary: 'Registered runtimes with health and the bundles each accepted or refused',
        response: { 200: z.object({ runtimes: z.array(RuntimeEntrySchema) }), ...errors() },
      },
    },
    async () => ({ runtimes: registry.list() }),
  );

  app.post(
    '/api/runtimes',
    {
      schema: {
        tags,
        summary:
          'Register a remote runtime server (its URL credentials and token are never returned)',
        body: RegisterRuntimeSchema,
        response: { 201: RuntimeEntrySchema, ...errors(409) },
      },
    },
    async (request, reply) => {
      checkRuntimeUrl(request.body.url);
      const entry = services.registerRemote(request.body);
      return reply.code(201).send(entry);
    },
  );

  app.delete(
    '/api/runtimes/:id',
    {
      schema: {
        tags,
        summary: 'Unregister a remote runtime (the default runtime cannot be removed)',
        params: IdParams,
        response: { 204: z.null(), ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const entry = registry.entry(request.params.id);
      if (entry.default) {
        throw new WorkspaceError(
          'default_runtime_protected',
          'the default runtime cannot be unregistered',
        );
      }
      await services.unregister(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/runtimes/:id/health',
    {
      schema: {
        tags,
        summary: 'Probe a runtime now',
        params: IdParams,
        response: { 200: RuntimeHealthSchema, ...errors(404) },
      },
    },
    async (request) => registry.probe(request.params.id),
  );

  app.post(
    '/api/runtimes/:id/config-bundles',
    {
      schema: {
        tags: ['config-bundles'],
        summary: 'Sync a config bundle to a runtime; the result says whether it accepted it',
        params: IdParams,
        body: z.object({ bundle: z.unknown() }),
        response: { 200: BundleSyncResultSchema, ...errors(404, 413) },
      },
    },
    async (request) => registry.syncBundle(request.params.id, request.body.bundle),
  );

  app.get(
    '/api/runtimes/:id/config-bundles/:bundleId/availability',
    {
      schema: {
        tags: ['config-bundles'],
        summary: 'Whether a runtime holds a bundle at a digest',
        params: z.object({ id: IdSchema, bundleId: IdSchema }),
        querystring: z.object({ digest: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex') }),
        response: { 200: BundleAvailabilitySchema, ...errors(404) },
      },
    },
    async (request) =>
      registry.checkBundle(request.params.id, {
        id: request.params.bundleId,
        digest: request.query.digest,
      }),
  );

  app.post(
    '/api/workers',
    {
      schema: {
        tags: ['workers'],
        summary: 'Create an agent worker from a profile (on the default runtime unless runtimeId)',
        body: WorkerBody,
        response: { 201: WorkerInfoSchema, ...errors(403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { runtimeId = services.local().id, bundle, ...workerRequest } = request.body;
      const worker = await registry.createWorker(runtimeId, workerRequest, bundle);
      services.workerRuntimes.set(worker.workerId, runtimeId);
      return reply.code(201).send(worker);
    },
  );

  /** The runtime holding a worker: the one it was created on, else the first that knows it. */
  async function findWorker(workerId: string) {
    const known = services.workerRuntimes.get(workerId);
    const candidates = known ? [known] : registry.list().map((entry) => entry.id);
    for (const runtimeId of candidates) {
      try {
        const host = registry.get(runtimeId);
        return { host, worker: await host.getWorker(workerId) };
      } catch (error) {
        if (!(error instanceof RuntimeError) || error.code !== 'worker_not_found') {
          if (known) throw error;
        }
      }
    }
    throw new RuntimeError('worker_not_found', 'no such worker');
  }

  app.get(
    '/api/workers/:id',
    {
      schema: {
        tags: ['workers'],
        summary: "A worker's state",
        params: IdParams,
        response: { 200: WorkerInfoSchema, ...errors(404) },
      },
    },
    async (request) => (await findWorker(request.params.id)).worker,
  );

  app.delete(
    '/api/workers/:id',
    {
      schema: {
        tags: ['workers'],
        summary: 'Stop a worker',
        params: IdParams,
        response: { 200: WorkerInfoSchema, ...errors(404) },
      },
    },
    async (request) => {
      const { host } = await findWorker(request.params.id);
      return host.stopWorker(request.params.id);
    },
  );
}
