import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DISK_FULL_MESSAGE, errorBody, isDiskFull } from '@runyard/http';
import { MAX_CODE_BYTES, type RuntimeApi } from '@runyard/runtime-registry';
import { z } from 'zod';
import { VERSION } from '../version.js';
import { executeResultForMcp, outputsAsText, runtimeInfoForMcp } from './results.js';

export const MCP_TOOLS = [
  'list_notebooks',
  'create_notebook',
  'open_notebook',
  'get_runtime',
  'manage_dependencies',
  'execute_code',
  'interrupt_kernel',
  'restart_kernel',
  'shutdown_notebook',
] as const;

const notebookId = z
  .string()
  .min(1)
  .max(256)
  .describe('The notebook id returned by create_notebook, open_notebook or list_notebooks');
const dependencyList = z.array(z.string().min(1).max(1024)).max(500);

function ok(value: Record<string, unknown>, text?: string): CallToolResult {
  return {
    content: [{ type: 'text', text: text ?? JSON.stringify(value, null, 2) }],
    structuredContent: value,
  };
}

/** A failure as a tool error carrying the stable code (never a protocol error). */
export function toolError(error: unknown): CallToolResult {
  const code = (error as { code?: unknown } | null)?.code;
  const typed = typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code);
  const body = typed
    ? errorBody(code, (error as Error).message)
    : isDiskFull(error)
      ? errorBody('disk_full', DISK_FULL_MESSAGE)
      : errorBody('internal_error', 'internal error');
  return {
    isError: true,
    content: [{ type: 'text', text: JSON.stringify(body) }],
    structuredContent: { ...body },
  };
}

async function guarded(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (error) {
    return toolError(error);
  }
}

/**
 * The MCP surface over one runtime (the default runtime, `local`). One server instance per
 * connection; the runtime is shared.
 */
export function createMcpServer(runtime: () => RuntimeApi): McpServer {
  const server = new McpServer(
    { name: 'runyard', version: VERSION },
    {
      instructions:
        'Runyard runs Jupyter notebooks headlessly. Create or open a notebook, then execute_code. When a result has lifecycle "awaiting_trust", call the tool named in next_action with its arguments (manage_dependencies with trust: true and the fingerprint) to approve the dependencies; nothing needs a human.',
    },
  );
  const info = (value: Awaited<ReturnType<RuntimeApi['getNotebook']>>) =>
    ok(runtimeInfoForMcp(value));

  server.registerTool(
    'list_notebooks',
    {
      title: 'List notebooks',
      description:
        'Lists the notebooks open in the runtime, each with its lifecycle, kernel status, trust and next_action when blocked.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    () =>
      guarded(async () => ({
        ...ok({ notebooks: (await runtime().listNotebooks()).map(runtimeInfoForMcp) }),
      })),
  );

  server.registerTool(
    'create_notebook',
    {
      title: 'Create a notebook',
      description:
        'Creates a notebook (a new .ipynb at path in the workspace, or an ephemeral one without path) and starts its kernel. Dependencies given here are trusted: passing them is the consent. Returns runtime info with trust and, when blocked, next_action.',
      inputSchema: {
        path: z
          .string()
          .max(4096)
          .optional()
          .describe('Notebook path relative to the workspace, e.g. "analysis.ipynb"'),
        runtime: z.enum(['python', 'deno']).optional().describe('Kernel language (default python)'),
        dependencies: dependencyList
          .optional()
          .describe('PEP 508 requirements (uv) or conda specs, e.g. ["pandas>=2", "requests"]'),
        package_manager: z
          .enum(['uv', 'conda'])
          .optional()
          .describe('Which manager installs the dependencies (default uv)'),
      },
    },
    (args) =>
      guarded(async () =>
        info(
          await runtime().createNotebook({
            ...(args.path !== undefined ? { path: args.path } : {}),
            ...(args.runtime !== undefined ? { runtime: args.runtime } : {}),
            ...(args.dependencies !== undefined ? { dependencies: args.dependencies } : {}),
            ...(args.package_manager !== undefined ? { packageManager: args.package_manager } : {}),
            ...(args.path === undefined ? { ephemeral: true } : {}),
          }),
        ),
      ),
  );

  server.registerTool(
    'open_notebook',
    {
      title: 'Open a notebook',
      description:
        'Opens an existing .ipynb in the workspace. A notebook with dependencies not yet trusted stops at lifecycle "awaiting_trust" with next_action: call manage_dependencies with the given arguments to approve them.',
      inputSchema: {
        path: z.string().min(1).max(4096).describe('Notebook path relative to the workspace'),
      },
    },
    (args) => guarded(async () => info(await runtime().openNotebook(args.path))),
  );

  server.registerTool(
    'get_runtime',
    {
      title: "Get a notebook's runtime",
      description:
        "Returns a notebook's runtime info: lifecycle, kernel status, environment source and hash, trust, and next_action when blocked.",
      inputSchema: { notebook_id: notebookId },
      annotations: { readOnlyHint: true },
    },
    (args) => guarded(async () => info(await runtime().getNotebook(args.notebook_id))),
  );

  server.registerTool(
    'manage_dependencies',
    {
      title: 'Manage dependencies',
      description:
        "Adds or removes a notebook's inline dependencies, and with trust: true approves them (pass the fingerprint from trust or next_action so only what you saw is approved). apply: 'sync' installs into the running env, 'restart' restarts the kernel on the new env.",
      inputSchema: {
        notebook_id: notebookId,
        add: dependencyList.optional().describe('Requirements to add, e.g. ["numpy>=2"]'),
        remove: dependencyList.optional().describe('Package names to remove'),
        trust: z.boolean().optional().describe('Approve every dependency of the notebook'),
        fingerprint: z
          .string()
          .max(256)
          .optional()
          .describe('trust.fingerprint as last seen; approval fails if the dependencies changed'),
        apply: z.enum(['none', 'sync', 'restart']).optional().describe('How to apply changes'),
      },
    },
    (args) =>
      guarded(async () => {
        const { notebook_id, ...rest } = args;
        const request = Object.fromEntries(
          Object.entries(rest).filter(([, value]) => value !== undefined),
        );
        return info(await runtime().manageDependencies(notebook_id, request));
      }),
  );

  server.registerTool(
    'execute_code',
    {
      title: 'Execute code',
      description:
        'Runs code in the notebook kernel and returns its outputs (stream text, results, display data, errors) and status. Fails with notebook_awaiting_trust while dependencies await approval.',
      inputSchema: {
        notebook_id: notebookId,
        code: z.string().max(MAX_CODE_BYTES).describe('Source code to run'),
        timeout_ms: z
          .number()
          .int()
          .min(1)
          .max(3_600_000)
          .optional()
          .describe('Give up (and interrupt) after this many milliseconds'),
      },
    },
    (args) =>
      guarded(async () => {
        const result = await runtime().execute(args.notebook_id, {
          code: args.code,
          ...(args.timeout_ms !== undefined ? { timeoutMs: args.timeout_ms } : {}),
        });
        const structured = executeResultForMcp(result);
        return {
          content: [{ type: 'text', text: outputsAsText(result) || `(status: ${result.status})` }],
          // A Python exception is the code's outcome, not a tool failure: status says it.
          structuredContent: structured,
        };
      }),
  );

  const simple = [
    [
      'interrupt_kernel',
      'Interrupt the kernel',
      'Interrupts the code running in the notebook kernel.',
      'interrupt',
    ],
    [
      'restart_kernel',
      'Restart the kernel',
      'Restarts the notebook kernel; variables are lost.',
      'restart',
    ],
    [
      'shutdown_notebook',
      'Shut a notebook down',
      'Stops the notebook kernel and closes the notebook.',
      'shutdown',
    ],
  ] as const;
  for (const [name, title, description, method] of simple) {
    server.registerTool(
      name,
      { title, description, inputSchema: { notebook_id: notebookId } },
      (args) => guarded(async () => info(await runtime()[method](args.notebook_id))),
    );
  }
  return server;
}
