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
  describePython,
  PYTHON_CANDIDATES,
  type ResolvedPython,
  resolvePython,
} from './python.js';
export {
  createLocalRuntime,
  defaultRuntimeProvider,
  kernelEnv,
  LOCAL_RUNTIME_ID,
  type LocalRuntimeOptions,
  type RemoteRuntimeOptions,
  type RuntimeProvider,
  runtimeOptionsFor,
} from './runtimes.js';
export {
  BODY_LIMIT_BYTES,
  type RegisteredRoute,
  type StartOptions,
  startWorkspaceServer,
  VERSION,
  type WorkspaceServer,
} from './server.js';
export { openServices, type WorkspaceServices } from './services.js';
