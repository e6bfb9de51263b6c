import type { WorkerDefinition } from './schema.js';

/** Profiles every runtime offers without a bundle. They are granted nothing. */
export const BUILTIN_PROFILES = {
  'python-kernel': { kind: 'kernel', runtime: 'python' },
  'deno-kernel': { kind: 'kernel', runtime: 'deno' },
} as const satisfies Record<string, WorkerDefinition>;

export type BuiltinProfileName = keyof typeof BUILTIN_PROFILES;

export function isBuiltinProfileName(value: string): value is BuiltinProfileName {
  return Object.hasOwn(BUILTIN_PROFILES, value);
}
