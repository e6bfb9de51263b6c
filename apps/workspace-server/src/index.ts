export {
  ConfigError,
  loadServeConfig,
  SERVE_OPTIONS,
  type ServeConfig,
  ServeConfigSchema,
  serveHelp,
} from './config.js';
export { startWorkspaceServer, VERSION, type WorkspaceServer } from './server.js';
