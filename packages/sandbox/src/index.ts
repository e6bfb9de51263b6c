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
export {
  type CaOptions,
  caEnvironment,
  createLeafIssuer,
  type GeneratedCa,
  generateCa,
  installCaFiles,
  type LeafCert,
  type LeafIssuer,
  loadOrCreateProxyCa,
  type ProxyCa,
  systemCaPem,
} from './ca.js';
export {
  environBounds,
  isWithheldVariable,
  type WithheldEnvironment,
  withheldValueRanges,
  withholdSecretsFromEnvironment,
} from './environ.js';
export { SandboxError, SandboxErrorCode, sandboxErrorStatus } from './errors.js';
export {
  createSecretPlaceholders,
  findPlaceholderTokens,
  PLACEHOLDER_LIKE,
  PLACEHOLDER_PREFIX,
} from './placeholders.js';
export {
  type Destination,
  type EgressEvent,
  type EgressListen,
  type EgressProxy,
  type EgressProxyOptions,
  refusalBody,
  type SecretGrant,
  startEgressProxy,
} from './proxy.js';
export {
  createRedactor,
  encodedForms,
  type LabelledText,
  type MergedStreamRedactor,
  MIN_SECRET_LENGTH,
  type Redactor,
  type RedactorOptions,
  redactJsonValue,
  type StreamRedactor,
  TOKEN_PATTERNS,
} from './redact.js';
export { createRedactingTransform } from './redact-transform.js';
export {
  type ProcReader,
  procReader,
  type StopSandboxOptions,
  stopBubblewrap,
} from './stop.js';
