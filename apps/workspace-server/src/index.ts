export { type CliIo, ExitCode } from './cli/common.js';
export { main as runCli, USAGE } from './cli/main.js';
export {
  ConfigError,
  loadServeConfig,
  SERVE_OPTIONS,
  type ServeConfig,
  ServeConfigSchema,
  serveHelp,
} from './config.js';
export {
  createWorkspaceErrorHandler,
  statusForCode,
  WorkspaceError,
  WorkspaceErrorCode,
  workspaceErrorStatus,
} from './errors.js';
export { EVENT_TOPICS, EventHub, type EventTopic, type HubEvent } from './events/hub.js';
export { createMcpServer, MCP_TOOLS } from './mcp/tools.js';
export {
  LOCAL_RUNTIME_ID,
  type LocalRuntimeOptions,
  type RemoteRuntimeOptions,
  type RuntimeProvider,
} from './runtimes.js';
export {
  type RegisteredRoute,
  type StartOptions,
  startWorkspaceServer,
  VERSION,
  type WorkspaceServer,
} from './server.js';
export { openServices, type WorkspaceServices } from './services.js';
