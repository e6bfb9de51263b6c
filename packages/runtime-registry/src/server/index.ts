export { type RuntimeRoutesOptions, registerRuntimeRoutes } from './routes.js';
export { type RuntimeServer, type StartRuntimeServerOptions, startRuntimeServer } from './start.js';
export { runtimeStatusFor } from './status.js';
