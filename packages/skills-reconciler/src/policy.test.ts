import { describe, expect, it } from 'vitest';
import { SkillsError } from './errors.js';
import { parsePolicy, resolvePolicy } from './policy.js';

describe('parsePolicy', () => {
  it('is trimmed and case-insensitive', () => {
    expect(parsePolicy('Force-Off')).toBe('force-off');
    expect(parsePolicy('  force-off ')).toBe('force-off');
    expect(parsePolicy('\tFORCE-ON\n')).toBe('force-on');
    expect(parsePolicy('user-choice')).toBe('user-choice');
  });

  it('treats empty and whitespace-only as not set', () => {
    expect(parsePolicy('')).toBeUndefined();
    expect(parsePolicy('   ')).toBeUndefined();
    expect(parsePolicy(undefined)).toBeUndefined();
  });

  it('refuses near misses with policy_invalid', () => {
    for (const value of [
      'force_off',
      'off',
      'forceoff',
      'force-of',
      'false',
      '0',
      'force-off;rm',
    ]) {
      expect(() => parsePolicy(value)).toThrow(SkillsError);
      try {
        parsePolicy(value);
      } catch (error) {
        expect((error as SkillsError).code).toBe('policy_invalid');
      }
    }
  });
});

describe('resolvePolicy', () => {
  it('lets the environment override configuration', () => {
    expect(resolvePolicy({ RUNYARD_SKILLS_POLICY: 'force-off' }, 'force-on')).toEqual({
      ok: true,
      policy: 'force-off',
      source: 'env',
    });
    expect(resolvePolicy({ RUNYARD_SKILLS_POLICY: '' }, 'force-on')).toEqual({
      ok: true,
      policy: 'force-on',
      source: 'config',
    });
    expect(resolvePolicy({}, undefined)).toEqual({
      ok: true,
      policy: 'user-choice',
      source: 'default',
    });
  });

  it('fails closed on an invalid environment value even when configuration is valid', () => {
    const result = resolvePolicy({ RUNYARD_SKILLS_POLICY: 'force_off' }, 'force-on');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('policy_invalid');
  });
});
