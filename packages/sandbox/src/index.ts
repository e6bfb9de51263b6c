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
