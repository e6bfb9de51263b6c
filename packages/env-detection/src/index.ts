export {
  type CanonicalDependencySpec,
  canonicalDependencySpec,
  canonicalMarker,
  canonicalSpecifierClauses,
} from './canonical.js';
export { MAX_CHANNEL_LENGTH, parseChannel } from './channels.js';
export {
  type CondaSpec,
  type Dependency,
  DependencySchema,
  type Ecosystem,
  EcosystemSchema,
  MAX_DEPENDENCY_LENGTH,
  normalizeCondaName,
  normalizePackageName,
  parseCondaSpec,
  parseRequirement,
  type Requirement,
  type RequirementSource,
  toDependency,
} from './dependencies.js';
export {
  type CondaEnvHashInput,
  canonicalDependency,
  computeCondaEnvHash,
  computeUvEnvHash,
  condaEnvHashPayload,
  type UvEnvHashInput,
  uvEnvHashPayload,
} from './env-hash.js';
export {
  EnvDetectionError,
  EnvDetectionErrorCode,
  type EnvDetectionErrorDetails,
  envDetectionErrorStatus,
} from './errors.js';
export { type EnvFs, type FileKind, type FileStat, nodeFs, readHandleUpTo } from './fs.js';
export {
  CondaMetadataSchema,
  type InlineDependencies,
  type InlineManager,
  KernelspecSchema,
  MAX_INLINE_DEPENDENCIES,
  MAX_NOTEBOOK_BYTES,
  type Notebook,
  NotebookSchema,
  PixiMetadataSchema,
  parseNotebook,
  parseNotebookJson,
  RuntMetadataSchema,
  RunyardMetadataSchema,
  readInlineDependencies,
  UvMetadataSchema,
} from './notebook.js';
export {
  type CellRef,
  codeCellSource,
  describeCell,
  findPep723Blocks,
  findScriptBlocks,
  MAX_PEP723_DEPENDENCIES,
  type Pep723Block,
  type Pep723Metadata,
  parsePep723Block,
  readPep723,
} from './pep723.js';
export {
  DENO_CONFIG_FILES,
  MAX_PROJECT_DEPENDENCIES,
  MAX_PROJECT_FILE_BYTES,
  MAX_PROJECT_FILE_NESTING,
  MAX_YAML_ALIASES,
  type ProjectEnvironment,
  type ProjectEnvSource,
  PYTHON_PROJECT_FILES,
  type PythonProjectFileName,
  parseEnvironmentYml,
  parsePixiToml,
  parseProjectFile,
  parsePyproject,
} from './project-files.js';
export {
  type EnvPreferences,
  EnvPreferencesSchema,
  type EnvSource,
  EnvSourceSchema,
  type PythonManager,
  PythonManagerSchema,
  type ResolvedEnvironment,
  ResolvedEnvironmentSchema,
  type ResolveEnvironmentInput,
  resolveEnvironment,
} from './resolve.js';
export {
  type DetectRuntimeOptions,
  detectRuntime,
  type RuntimeDetection,
  RuntimeDetectionSchema,
  type RuntimeKind,
  RuntimeKindSchema,
  type RuntimeReason,
  RuntimeReasonSchema,
} from './runtime.js';
export {
  type EnvWarning,
  type EnvWarningCode,
  EnvWarningCodeSchema,
  EnvWarningSchema,
} from './warnings.js';
