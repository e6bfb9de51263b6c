import { PoolStatusSchema } from '@runyard/runtime-registry';
import type { WorkspaceServices } from '../services.js';
import { errors, type WorkspaceApp } from './schemas.js';

export function registerPoolRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  app.get(
    '/api/pool',
    {
      schema: {
        tags: ['pool'],
        summary: 'Env and kernel pools of the default runtime: sizes, ready, warming, failures',
        response: { 200: PoolStatusSchema, ...errors() },
      },
    },
    async () => services.local().pool(),
  );
}
