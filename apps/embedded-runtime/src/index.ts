export type { PreparedEnv } from './environments.js';
export { type RuntimeEventOf, RuntimeEvents, type RuntimeEventType } from './events.js';
export { failureReason, type RestartPolicy } from './notebooks.js';
export { resolveWorkspaceDir, resolveWorkspacePath, type WorkspacePath } from './paths.js';
export { MIN_REDACTED_LENGTH, REDACTED, StreamRedactor } from './redact.js';
export { createRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
export { secretEnvName } from './workers.js';
