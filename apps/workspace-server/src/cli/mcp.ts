import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLogger } from '../logger.js';
import { createMcpServer } from '../mcp/tools.js';
import { describePython } from '../python.js';
import type { RuntimeProvider } from '../runtimes.js';
import { openServices } from '../services.js';
import { type CliIo, ExitCode, parseCommand, printHelp, println } from './common.js';

export const MCP_HELP = `Usage: runyard mcp [serve options]

Speaks MCP over stdio with an embedded runtime (no port is opened). Logs go to stderr.
Tools: list_notebooks, create_notebook, open_notebook, get_runtime, manage_dependencies,
execute_code, interrupt_kernel, restart_kernel, shutdown_notebook.
The same tools are served over Streamable HTTP at /mcp by "runyard serve".`;

export async function mcpCommand(
  io: CliIo,
  args: string[],
  provider?: RuntimeProvider,
): Promise<number> {
  const { values, config } = parseCommand(io, args);
  if (values.help) return printHelp(io, MCP_HELP, true);
  const settings = config();
  // stdout carries the protocol: logs go to stderr, and only warnings by default.
  const logger = createLogger({
    level: settings.logLevel === 'info' ? 'warn' : settings.logLevel,
    destination: io.stderr,
  });
  const services = await openServices(settings, {
    logger,
    env: io.env,
    ...(provider ? { provider } : {}),
  });
  // stdout is the protocol: a missing ipykernel is said on stderr, where MCP hosts log.
  if (!services.python.hasIpykernel) println(io.stderr, describePython(services.python));
  const server = createMcpServer(() => services.local());
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => undefined);
  await services.close();
  return ExitCode.ok;
}
