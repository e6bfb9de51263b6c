import { CreateWorkerRequest } from '@runyard/config-bundles';
import {
  BundleAvailabilitySchema,
  BundleSyncResultSchema,
  RuntimeEntrySchema,
  RuntimeError,
  RuntimeHealthSchema,
  type WorkerInfo,
  WorkerInfoSchema,
} from '@runyard/runtime-registry';
import { z } from 'zod';
import { WorkspaceError } from '../errors.js';
import { decideRuntimeUrl, isLoopbackBind, parseRuntimeUrlPattern } from '../runtime-urls.js';
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

/** A runtime's URL, parsed: absolute http(s) only. */
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

/**
 * Registration is a request forger by nature (the server then calls that URL), so which URLs
 * are accepted is the operator's decision: see runtime-urls.ts. The messages never echo the URL
 * (it may carry credentials).
 */
export function assertRuntimeUrlAllowed(
  url: URL,
  policy: Parameters<typeof decideRuntimeUrl>[1],
): void {
  const decision = decideRuntimeUrl(url, policy);
  if (decision.allowed) return;
  throw new WorkspaceError(
    'runtime_url_not_allowed',
    decision.reason === 'not_configured'
      ? 'this server listens beyond loopback, so remote runtime URLs must match a configured runtimeUrls pattern, and none is configured'
      : 'the runtime URL matches no configured runtimeUrls pattern',
  );
}

const WorkerBody = CreateWorkerRequest.extend({
  runtimeId: IdSchema.optional(),
  /** Synced to the runtime first when it lacks it. */
  bundle: z.unknown().optional(),
});

export function registerRuntimeRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  const { registry, workers } = services;
  const tags = ['runtimes'];
  const urlPolicy = {
    patterns: services.config.runtimeUrls?.map(parseRuntimeUrlPattern),
    loopbackBind: isLoopbackBind(services.config.host),
  };

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
        response: { 201: RuntimeEntrySchema, ...errors(403, 409) },
      },
    },
    async (request, reply) => {
      assertRuntimeUrlAllowed(checkRuntimeUrl(request.body.url), urlPolicy);
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
        response: { 201: WorkerInfoSchema, ...errors(403, 404, 409, 422, 502) },
      },
    },
    async (request, reply) => {
      const { runtimeId = services.local().id, bundle, ...workerRequest } = request.body;
      const asked = workerRequest.workerId;
      // Held before the runtime is asked: a duplicate never reaches any runtime.
      const release = asked === undefined ? undefined : workers.reserve(asked, runtimeId);
      let worker: WorkerInfo;
      try {
        worker = await registry.createWorker(runtimeId, workerRequest, bundle);
      } catch (error) {
        release?.();
        throw error;
      }
      // A runtime (a remote, possibly hostile) answers with the id: believe it only when it is
      // the one asked for, or a new one. Never re-point an id another runtime holds.
      const believed =
        asked === undefined ? workers.claim(worker.workerId, runtimeId) : worker.workerId === asked;
      if (!believed) {
        release?.();
        await stopQuietly(runtimeId, worker.workerId);
        throw new WorkspaceError(
          'remote_worker_id_refused',
          'the runtime answered with a worker id that is not the one asked for or belongs to another runtime; that worker was stopped',
        );
      }
      return reply.code(201).send(worker);
    },
  );

  /** Stops a worker on the runtime that made it (never looked up by id alone). */
  async function stopQuietly(runtimeId: string, workerId: string) {
    try {
      await registry.get(runtimeId).stopWorker(workerId);
    } catch {
      // best effort: the answer was already wrong
    }
  }

  /**
   * The runtime holding a worker: the one it was created on through this server; else the
   * default runtime first, then the others (a worker created on a runtime directly). A remote
   * can never answer for an id the directory or the default runtime holds.
   */
  async function findWorker(workerId: string) {
    const known = workers.runtimeOf(workerId);
    const defaultId = services.local().id;
    const candidates = known
      ? [known]
      : [
          defaultId,
          ...registry
            .list()
            .map((entry) => entry.id)
            .filter((id) => id !== defaultId),
        ];
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
