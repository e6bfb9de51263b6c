export { Backoff, type BackoffOptions } from './backoff.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  type ExecuteOptions,
  type ExecuteResult,
  type InterruptMode,
  KernelClient,
  type KernelClientOptions,
  type KernelEvents,
  type KernelInfo,
  type KernelRuntime,
  type KernelStatus,
} from './client.js';
export {
  type Channel,
  type ConnectionInfo,
  channelAddress,
  connectionInfoSchema,
  createConnectionInfo,
  defaultRuntimeDir,
  ensurePrivateRuntimeDir,
  freePorts,
  type Transport,
  writeConnectionFile,
} from './connection.js';
export {
  denoFromNpm,
  denoKernelArgv,
  findDeno,
  type LaunchDenoKernelOptions,
  launchDenoKernel,
} from './deno.js';
export { decisiveLines, hideHostPaths } from './diagnostics.js';
export {
  availableEnvManagers,
  type BuildEnvRequest,
  type BuiltEnv,
  type CondaTool,
  checkBuildDependencies,
  createEnvBuilder,
  type EnvBuilder,
  type EnvBuilderOptions,
  type EnvManager,
  type EnvProgress,
  environmentYmlName,
  findCondaTool,
  type Isolation,
  interpreterPath,
  type Wheelhouse,
} from './env-builder.js';
export {
  createEnvCache,
  type EnvCache,
  type EnvCacheEntry,
  type EnvCacheGetOptions,
  type EnvCacheGetResult,
  type EnvCacheOptions,
} from './env-cache.js';
export {
  createEnvPool,
  DEFAULT_POOL_MAX_AGE_MS,
  type EnvPool,
  type EnvPoolEvent,
  type EnvPoolOptions,
  type PooledEnv,
  poolPackageHash,
} from './env-pool.js';
export {
  isKernelError,
  KernelError,
  KernelErrorCode,
  type KernelErrorDetails,
  kernelErrorHttpStatus,
  MAX_BUILD_LOG_BYTES,
} from './errors.js';
export {
  createKernelPool,
  IPYTHON_WARMUP_CODE,
  type KernelPool,
  type KernelPoolEvent,
  type KernelPoolOptions,
  warmIpythonKernel,
} from './kernel-pool.js';
export {
  findKernelspecs,
  type JupyterDirsOptions,
  jupyterDataDirs,
  type Kernelspec,
  readKernelspec,
} from './kernelspec.js';
export {
  classifyKernelExit,
  ipykernelArgv,
  type LaunchKernelOptions,
  launchKernel,
  lostPortRace,
  type WrapContext,
} from './launch.js';
export {
  DEFAULT_OUTPUT_BUDGET_BYTES,
  type DisplayDataOutput,
  type ErrorOutput,
  type ExecuteResultOutput,
  type NotebookOutput,
  type OutputTruncation,
  type StreamOutput,
} from './outputs.js';
export {
  type ExitInfo,
  kernelEnvironment,
  ManagedProcess,
  processesMentioning,
} from './process.js';
export {
  type BasePython,
  defaultPythonCandidates,
  type PythonSource,
  pythonHasIpykernel,
  type ResolveBasePythonOptions,
  resolveBasePython,
} from './python.js';
export {
  DELIMITER,
  type JupyterMessage,
  type MessageHeader,
  type OutgoingMessage,
  PROTOCOL_VERSION,
  parse,
  serialize,
  sign,
  verifySignature,
} from './wire.js';
