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
export { EnvDetectionError, EnvDetectionErrorCode, envDetectionErrorStatus } from './errors.js';
