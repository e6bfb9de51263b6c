import { normalizeName } from '@runyard/trust';
import { z } from 'zod';
import { WorkspaceError } from '../errors.js';
import type { WorkspaceServices } from '../services.js';
import { errors, type WorkspaceApp } from './schemas.js';

const Ecosystem = z.enum(['pypi', 'conda']);
const TrustedPackageSchema = z.object({
  ecosystem: Ecosystem,
  name: z.string(),
  source: z.string(),
  approvedAt: z.string(),
});
const AuditEntrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  ecosystem: Ecosystem,
  name: z.string(),
  action: z.string(),
  effect: z.string(),
  source: z.string().nullable(),
  actor: z.string().nullable(),
  notebookPath: z.string().nullable(),
});

export function registerTrustRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  const tags = ['trust'];
  app.get(
    '/api/trust/packages',
    {
      schema: {
        tags,
        summary: 'The package allowlist (both ecosystems)',
        response: { 200: z.object({ packages: z.array(TrustedPackageSchema) }), ...errors() },
      },
    },
    async () => ({ packages: services.trust.listTrusted() }),
  );

  app.delete(
    '/api/trust/packages/:ecosystem/:name',
    {
      schema: {
        tags,
        summary: 'Remove a package from the allowlist (audited)',
        params: z.object({ ecosystem: Ecosystem, name: z.string().min(1).max(256) }),
        response: {
          200: z.object({ ecosystem: Ecosystem, name: z.string(), effect: z.string() }),
          ...errors(404),
        },
      },
    },
    async (request) => {
      const { ecosystem } = request.params;
      const name = normalizeName(ecosystem, request.params.name);
      const [change] = services.trust.revoke([{ ecosystem, name }], { actor: 'api' });
      if (!change || change.effect === 'not_trusted') {
        throw new WorkspaceError('trust_package_not_found', 'the package is not on the allowlist');
      }
      return change;
    },
  );

  app.get(
    '/api/trust/events',
    {
      schema: {
        tags,
        summary: 'The allowlist audit log, oldest first',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(10_000).optional() }),
        response: { 200: z.object({ events: z.array(AuditEntrySchema) }), ...errors() },
      },
    },
    async (request) => ({
      events: services.trust.auditLog(
        request.query.limit === undefined ? {} : { limit: request.query.limit },
      ),
    }),
  );
}
