export { extractSkill, listArchive, safeEntryPath } from './archive.js';
export { digestTree, type TreeDigest } from './digest.js';
export { isSkillsError, SkillsError, SkillsErrorCode, skillsErrorStatus } from './errors.js';
export { fetchGitTree, type GitTree, resolveGitRef } from './git.js';
export { downloadArchive, type FetchLike } from './http.js';
export { type Checkpoint, recoverRoot, STAGING_PREFIX, type SwapPoint } from './install.js';
export {
  createFileInventory,
  INVENTORY_FILE,
  type InventoryRecord,
  type InventoryStore,
  inventoryRecordSchema,
} from './inventory.js';
export {
  deriveName,
  type GitSource,
  githubTreeToTarball,
  MAX_MANIFEST_BYTES,
  type Manifest,
  type ManifestEntry,
  manifestSchema,
  type ParseManifestOptions,
  parseManifest,
  redactSource,
  type SkillScope,
  type SkillSource,
  sourceId,
  type TarballSource,
  urlIdentity,
} from './manifest.js';
export {
  defaultTokenHosts,
  type LoadedManifest,
  type LoadManifestsOptions,
  loadManifests,
  type ManifestCache,
  type MergedEntry,
  type MergedManifests,
  mergeManifests,
  type PassError,
  tokenHostsFor,
} from './manifest-loader.js';
export {
  type Conflict,
  DEFAULT_LIMITS,
  type OnDrift,
  type PassReport,
  type PlanItem,
  type PlanReason,
  type SkillLimits,
  type SkillsRoots,
} from './pass.js';
export {
  POLICY_ENV,
  parsePolicy,
  resolvePolicy,
  SKILLS_POLICIES,
  type SkillsPolicy,
} from './policy.js';
export {
  type Clock,
  createReconciler,
  type LastPass,
  type Logger,
  type PassTrigger,
  type Reconciler,
  type ReconcilerEvent,
  type ReconcilerOptions,
  type ReconcilerStatus,
  type StopResult,
  type Timers,
} from './reconciler.js';
export { acquireRootLock, LOCK_FILE, type RootLock } from './root-lock.js';
export {
  isValidSkillName,
  type ParsedSkill,
  parseSkill,
  type SkillFrontmatter,
  skillFrontmatterSchema,
  skillNameSchema,
} from './skill.js';
