import type { SkillsError } from '../errors.js';

/** The error code `fn` throws, or undefined when it returns. */
export function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as SkillsError).code;
  }
}

/** The error code `promise` rejects with, or undefined when it resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as SkillsError).code;
  }
}
