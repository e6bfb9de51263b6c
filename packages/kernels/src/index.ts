export {
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
  freePorts,
  type Transport,
  writeConnectionFile,
} from './connection.js';
export {
  isKernelError,
  KernelError,
  KernelErrorCode,
  type KernelErrorDetails,
  kernelErrorHttpStatus,
} from './errors.js';
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
} from './launch.js';
export type {
  DisplayDataOutput,
  ErrorOutput,
  ExecuteResultOutput,
  NotebookOutput,
  StreamOutput,
} from './outputs.js';
export { type ExitInfo, ManagedProcess } from './process.js';
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
