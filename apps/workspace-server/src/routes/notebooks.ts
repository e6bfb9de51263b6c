import {
  CreateNotebookRequestSchema,
  ExecuteRequestSchema,
  ExecuteResultSchema,
  ManageDependenciesRequestSchema,
  OpenNotebookRequestSchema,
  RuntimeInfoSchema,
} from '@runyard/runtime-registry';
import { z } from 'zod';
import type { WorkspaceServices } from '../services.js';
import { errors, IdParams, type WorkspaceApp } from './schemas.js';

const tags = ['notebooks'];

/** Notebook operations, all on the default runtime (`local`). */
export function registerNotebookRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  const runtime = () => services.local();

  app.post(
    '/api/notebooks',
    {
      schema: {
        tags,
        summary: 'Create a notebook (explicit dependencies are consent: they are trusted)',
        body: CreateNotebookRequestSchema,
        response: { 201: RuntimeInfoSchema, ...errors(404, 409, 413) },
      },
    },
    async (request, reply) => reply.code(201).send(await runtime().createNotebook(request.body)),
  );

  app.post(
    '/api/notebooks/open',
    {
      schema: {
        tags,
        summary: 'Open a notebook file in the workspace (unknown dependencies → awaiting_trust)',
        body: OpenNotebookRequestSchema,
        response: { 200: RuntimeInfoSchema, ...errors(404, 409, 413) },
      },
    },
    async (request) => runtime().openNotebook(request.body.path),
  );

  app.get(
    '/api/notebooks',
    {
      schema: {
        tags,
        summary: 'List open notebooks',
        response: { 200: z.object({ notebooks: z.array(RuntimeInfoSchema) }), ...errors() },
      },
    },
    async () => ({ notebooks: await runtime().listNotebooks() }),
  );

  app.get(
    '/api/notebooks/:id',
    {
      schema: {
        tags,
        summary: "A notebook's runtime info",
        params: IdParams,
        response: { 200: RuntimeInfoSchema, ...errors(404) },
      },
    },
    async (request) => runtime().getNotebook(request.params.id),
  );

  app.get(
    '/api/notebooks/:id/runtime',
    {
      schema: {
        tags,
        summary: "A notebook's runtime: lifecycle, kernel, environment, trust and nextAction",
        params: IdParams,
        response: { 200: RuntimeInfoSchema, ...errors(404) },
      },
    },
    async (request) => runtime().getNotebook(request.params.id),
  );

  app.post(
    '/api/notebooks/:id/dependencies',
    {
      schema: {
        tags,
        summary: 'Add/remove inline dependencies, approve them (trust + fingerprint), apply',
        params: IdParams,
        body: ManageDependenciesRequestSchema,
        response: { 200: RuntimeInfoSchema, ...errors(404, 409, 413) },
      },
    },
    async (request) => runtime().manageDependencies(request.params.id, request.body),
  );

  app.post(
    '/api/notebooks/:id/execute',
    {
      schema: {
        tags,
        summary: 'Run code in the notebook kernel and return its outputs',
        params: IdParams,
        body: ExecuteRequestSchema,
        response: { 200: ExecuteResultSchema, ...errors(404, 409, 413, 504) },
      },
    },
    async (request) => runtime().execute(request.params.id, request.body),
  );

  for (const [action, summary] of [
    ['interrupt', 'Interrupt the running cell'],
    ['restart', 'Restart the kernel'],
  ] as const) {
    app.post(
      `/api/notebooks/:id/${action}`,
      {
        schema: {
          tags,
          summary,
          params: IdParams,
          response: { 200: RuntimeInfoSchema, ...errors(404, 409) },
        },
      },
      async (request) => runtime()[action](request.params.id),
    );
  }

  app.delete(
    '/api/notebooks/:id',
    {
      schema: {
        tags,
        summary: 'Shut the notebook kernel down and forget the notebook',
        params: IdParams,
        response: { 200: RuntimeInfoSchema, ...errors(404) },
      },
    },
    async (request) => runtime().shutdown(request.params.id),
  );
}
