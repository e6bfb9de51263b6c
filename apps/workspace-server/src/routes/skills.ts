import type { preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import type { WorkspaceServices } from '../services.js';
import { errors, type WorkspaceApp } from './schemas.js';

const Scope = z.enum(['user', 'project']);
const PlanItemSchema = z.object({
  name: z.string(),
  scope: Scope,
  sourceId: z.string(),
  reason: z.string().optional(),
  resolved: z.string().optional(),
  drift: z.boolean().optional(),
  outcome: z.enum(['applied', 'failed']).optional(),
});
const PassReportSchema = z.object({
  install: z.array(PlanItemSchema),
  update: z.array(PlanItemSchema),
  remove: z.array(PlanItemSchema),
  unchanged: z.array(PlanItemSchema),
  conflicts: z.array(
    z.object({
      code: z.string(),
      name: z.string(),
      scope: Scope,
      message: z.string(),
      sourceId: z.string().optional(),
    }),
  ),
  errors: z.array(
    z.object({
      code: z.string(),
      message: z.string(),
      name: z.string().optional(),
      scope: z.string().optional(),
      sourceId: z.string().optional(),
      manifest: z.string().optional(),
    }),
  ),
  warnings: z.array(z.string()),
  manifestsComplete: z.boolean(),
  aborted: z.boolean(),
});
const InventoryRecordSchema = z.looseObject({
  name: z.string(),
  scope: z.enum(['user', 'project']),
  sourceId: z.string(),
  resolved: z.string(),
  contentDigest: z.string(),
  installedAt: z.string(),
});
const StatusSchema = z.looseObject({
  policy: z.string().nullable(),
  policyError: z.object({ code: z.string(), message: z.string() }).optional(),
  configured: z.boolean(),
  running: z.boolean(),
  stopped: z.boolean(),
  lastPass: z.unknown(),
  nextPassAt: z.string().nullable(),
  inventory: z.array(InventoryRecordSchema),
});

/**
 * The skills policy gate, as a named preHandler so tests can see which routes carry it. The
 * kill switch must never carry it: it exists for exactly the state this gate refuses.
 */
export function skillsPolicyGate(services: WorkspaceServices): preHandlerAsyncHookHandler {
  return async function skillsPolicyGate() {
    services.skills.assertPolicyAllows();
  };
}

export const KILL_SWITCH_PATH = '/api/skills/reconciler/stop';

export function registerSkillsRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  const tags = ['skills'];
  const { skills } = services;

  app.get(
    '/api/skills',
    {
      schema: {
        tags,
        summary: 'Managed inventory and every skill folder (user and project)',
        response: {
          200: z.object({
            managed: z.array(InventoryRecordSchema),
            skills: z.array(
              z.object({
                name: z.string(),
                scope: z.enum(['user', 'project']),
                description: z.string().nullable(),
                managed: z.boolean(),
                invalid: z.literal(true).optional(),
              }),
            ),
          }),
          ...errors(),
        },
      },
    },
    async () => skills.inventory(),
  );

  app.get(
    '/api/skills/reconciler',
    {
      schema: {
        tags,
        summary: "The reconciler's status: policy, running, last pass, next pass",
        response: { 200: StatusSchema, ...errors() },
      },
    },
    async () => ({ ...skills.reconciler.status(), configured: skills.configured }),
  );

  app.post(
    '/api/skills/reconcile',
    {
      preHandler: skillsPolicyGate(services),
      schema: {
        tags,
        summary: 'Run a pass now (dryRun=true only plans); refused under policy force-off',
        querystring: z.object({ dryRun: z.enum(['true', 'false']).default('false') }),
        response: { 200: PassReportSchema, ...errors(403, 409) },
      },
    },
    async (request) =>
      request.query.dryRun === 'true' ? skills.reconciler.plan() : skills.reconciler.reconcile(),
  );

  // The kill switch: only the API token, deliberately outside the policy gate, idempotent.
  app.post(
    KILL_SWITCH_PATH,
    {
      schema: {
        tags,
        summary: 'Kill switch: stop the reconciler now (not gated by policy; idempotent)',
        response: {
          200: z.object({ stopped: z.literal(true), wasRunning: z.boolean() }),
          ...errors(),
        },
      },
    },
    async () => skills.reconciler.stop(),
  );
}
