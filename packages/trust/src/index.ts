export {
  type ApproveInput,
  type ApproveResult,
  approve,
  createTrustService,
  type DependencyDecision,
  type EvaluateTrustInput,
  evaluateTrust,
  revoke,
  type SeedFromCreateOptions,
  seedFromCreate,
  type TrustContext,
  type TrustDecision,
  type TrustService,
  type TrustStatus,
} from './decision.js';
export {
  type DependencyOrigin,
  type NotebookDependencies,
  type NotebookDependency,
  notebookSignature,
  readNotebookDependencies,
  readProjectDependencies,
} from './dependencies.js';
export { TrustError, TrustErrorCode, trustErrorStatus } from './errors.js';
export {
  type LoadTrustKeyOptions,
  loadOrCreateTrustKey,
  TRUST_KEY_BYTES,
  TRUST_KEY_FILE,
  TrustKey,
} from './key.js';
export { type ApproveDependenciesAction, buildNextAction } from './next-action.js';
export {
  SIGNATURE_PREFIX,
  type SignatureStatus,
  type SignOptions,
  signNotebookDependencies,
  type TrustKeyInput,
  verifyNotebookDependencies,
} from './signature.js';
export {
  type AllowContext,
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditEffect,
  type AuditEntry,
  checkAuditText,
  checkSource,
  createMemoryTrustStore,
  DEFAULT_TRUSTED_PACKAGES,
  MAX_ACTOR_LENGTH,
  MAX_NOTEBOOK_PATH_LENGTH,
  MAX_PACKAGE_NAME_LENGTH,
  type MemoryTrustStoreOptions,
  normalizeName,
  type PackageChange,
  type PackageRef,
  type RevokeContext,
  seedDefaults,
  TRUST_SOURCES,
  type TrustedPackage,
  type TrustSource,
  TrustSourceSchema,
  type TrustStore,
  toPackageRefs,
} from './store.js';
export {
  editDistance,
  findTyposquat,
  type TrustWarning,
  WELL_KNOWN_PACKAGES,
} from './warnings.js';
