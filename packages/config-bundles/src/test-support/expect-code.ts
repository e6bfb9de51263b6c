import { expect } from 'vitest';
import { ConfigBundleError, type ConfigBundleErrorCode } from '../errors.js';

/** The ConfigBundleError `run` throws, after checking its code; fails the test otherwise. */
export function expectCode(run: () => unknown, code: ConfigBundleErrorCode): ConfigBundleError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigBundleError);
    expect((error as ConfigBundleError).code).toBe(code);
    return error as ConfigBundleError;
  }
  throw new Error(`expected ${code}`);
}
