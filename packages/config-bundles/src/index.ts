export { BUILTIN_PROFILES, type BuiltinProfileName, isBuiltinProfileName } from './builtins.js';
export {
  DECLARATION_KINDS,
  DECLARATION_PREFIXES,
  type DeclarationKind,
  isDeclarationKind,
  isValidReference,
  parseReference,
  REFERENCE_TOKEN,
} from './declarations.js';
export {
  canonicalBundleJson,
  canonicalJson,
  computeBundleDigest,
  sealBundle,
  withoutDigest,
} from './digest.js';
export {
  ConfigBundleError,
  ConfigBundleErrorCode,
  ConfigBundleHttpStatus,
  isConfigBundleError,
} from './errors.js';
export {
  assertNoForbiddenContent,
  type ForbiddenReason,
  findForbiddenContent,
} from './forbidden-content.js';
export {
  assertPlainJson,
  FORBIDDEN_KEYS,
  type JsonSafetyLimits,
  parseJsonSafely,
} from './json-safety.js';
export { BundleLimits } from './limits.js';
export { type ResolveWorkerSpecInput, resolveWorkerSpec } from './resolve.js';
export {
  BundleDigest,
  BundleId,
  BundleMetadata,
  BundleProfile,
  BundleProvenance,
  CommandWorker,
  ConfigBundle,
  ConfigBundleRef,
  ConfigDeclaration,
  CreateWorkerRequest,
  DeclarationName,
  GrantedReference,
  isRfc3339,
  isSafeRelativePath,
  isValidIdentifier,
  KernelWorker,
  ProfileSelector,
  ResolvedGrants,
  ResolvedWorkerSpec,
  UnsealedConfigBundle,
  WorkerDefinition,
} from './schema.js';
export {
  createEnvSecretResolver,
  type EnvSecretResolverOptions,
  resolveSecretGrants,
  SECRET_ENV_PREFIX,
  type SecretResolver,
  SecretValue,
  secretEnvVarName,
} from './secrets.js';
export { parseBundleJson, validateBundle } from './validate.js';
