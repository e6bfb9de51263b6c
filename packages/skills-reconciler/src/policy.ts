import { SkillsError } from './errors.js';

export const SKILLS_POLICIES = ['user-choice', 'force-on', 'force-off'] as const;
export type SkillsPolicy = (typeof SKILLS_POLICIES)[number];

export const POLICY_ENV = 'RUNYARD_SKILLS_POLICY';

/**
 * Parses a policy value: trimmed, case-insensitive. Empty or whitespace-only means "not set"
 * (undefined). Anything else unrecognised (`force_off`, `off`) throws `policy_invalid`: a kill
 * switch with a typo must not be read as "keep going".
 */
export function parsePolicy(value: string | undefined | null): SkillsPolicy | undefined {
  if (value === undefined || value === null) return undefined;
  const normalised = value.trim().toLowerCase();
  if (normalised === '') return undefined;
  const found = SKILLS_POLICIES.find((policy) => policy === normalised);
  if (!found) {
    throw new SkillsError(
      'policy_invalid',
      `unrecognised skills policy ${JSON.stringify(value.trim().slice(0, 64))}; expected one of ${SKILLS_POLICIES.join(', ')}`,
    );
  }
  return found;
}

export type PolicyResolution =
  | { ok: true; policy: SkillsPolicy; source: 'env' | 'config' | 'default' }
  | { ok: false; error: SkillsError };

/** The effective policy: the environment variable wins over configuration, which wins over the default. */
export function resolvePolicy(
  env: Readonly<Record<string, string | undefined>>,
  configured: string | undefined,
): PolicyResolution {
  try {
    const fromEnv = parsePolicy(env[POLICY_ENV]);
    if (fromEnv) return { ok: true, policy: fromEnv, source: 'env' };
    const fromConfig = parsePolicy(configured);
    if (fromConfig) return { ok: true, policy: fromConfig, source: 'config' };
    return { ok: true, policy: 'user-choice', source: 'default' };
  } catch (error) {
    return { ok: false, error: error as SkillsError };
  }
}
