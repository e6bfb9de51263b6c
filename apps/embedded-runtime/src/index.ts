export type {
  EgressOptions,
  HostGrantPolicy,
  MountPolicy,
  NetworkPolicy,
} from './egress.js';
export type { PreparedEnv } from './environments.js';
export { type RuntimeEventOf, RuntimeEvents, type RuntimeEventType } from './events.js';
export {
  DEFAULT_RESTART_POLICY,
  failureReason,
  type RestartPolicy,
} from './notebooks.js';
export { resolveWorkspaceDir, resolveWorkspacePath, type WorkspacePath } from './paths.js';
export { RuntimeRedaction } from './redaction.js';
export { createRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
export { probeBubblewrap, type SandboxStatus } from './sandboxing.js';
export { secretEnvName } from './workers.js';
