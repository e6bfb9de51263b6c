export {
  type BubblewrapDetection,
  type BwrapSpec,
  buildBwrapArgv,
  DEFAULT_PROXY_PORT,
  type DetectOptions,
  detectBubblewrap,
  FORWARDER_SOURCE,
  type PathKind,
  proxyEnvironment,
  resolveSandboxMode,
  type SandboxDecision,
  type SandboxMode,
  type SandboxMount,
} from './bwrap.js';
export { SandboxError, SandboxErrorCode, sandboxErrorStatus } from './errors.js';
export {
  createRedactor,
  encodedForms,
  MIN_SECRET_LENGTH,
  type Redactor,
  type RedactorOptions,
  redactJsonValue,
  type StreamRedactor,
  TOKEN_PATTERNS,
} from './redact.js';
export { createRedactingTransform } from './redact-transform.js';
