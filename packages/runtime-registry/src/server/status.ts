import { ConfigBundleHttpStatus } from '@runyard/config-bundles';
import { envDetectionErrorStatus } from '@runyard/env-detection';
import { type StatusForCode, statusTable } from '@runyard/http';
import { kernelErrorHttpStatus } from '@runyard/kernels';
import { sandboxErrorStatus } from '@runyard/sandbox';
import { trustErrorStatus } from '@runyard/trust';
import { runtimeErrorStatus } from '../errors.js';

/**
 * The HTTP status of every typed error a runtime can throw, from each package's own table.
 * Pass it as `statusFor` to `createHttpServer` when mounting the runtime routes yourself.
 */
export const runtimeStatusFor: StatusForCode = statusTable(
  envDetectionErrorStatus,
  trustErrorStatus,
  ConfigBundleHttpStatus,
  kernelErrorHttpStatus,
  sandboxErrorStatus,
  runtimeErrorStatus,
);
