import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { WorkspaceError } from '../errors.js';
import { createMcpServer } from '../mcp/tools.js';
import type { WorkspaceServices } from '../services.js';
import { errors, type WorkspaceApp } from './schemas.js';

export const MCP_PATH = '/mcp';

/**
 * MCP over Streamable HTTP, stateless: every POST gets its own server and transport (so
 * request ids from different clients never collide) over the shared runtime. The bearer
 * token is checked by the same hook as every other route.
 */
export function registerMcpRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  app.post(
    MCP_PATH,
    {
      schema: {
        tags: ['mcp'],
        summary: 'MCP Streamable HTTP endpoint (JSON-RPC; stateless; same bearer token)',
        body: z.unknown(),
        response: errors(413),
      },
    },
    async (request, reply) => {
      const server = createMcpServer(() => services.local());
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(request.raw, reply.raw, request.body);
      } catch (error) {
        request.log.error({ err: error }, 'MCP request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json' });
          reply.raw.end(
            JSON.stringify({
              jsonrpc: '2.0',
              error: { code: -32603, message: 'internal error' },
              id: null,
            }),
          );
        }
      }
    },
  );

  // Stateless: no server-initiated stream (GET) and no session to end (DELETE).
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: MCP_PATH,
      schema: { tags: ['mcp'], summary: 'Not supported (stateless server)', response: errors(405) },
      handler: async () => {
        throw new WorkspaceError(
          'mcp_method_not_allowed',
          'this MCP endpoint is stateless: POST JSON-RPC requests',
        );
      },
    });
  }
}
