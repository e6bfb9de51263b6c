import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SkillsError } from './errors.js';

/** 1–64 chars of `[a-z0-9-]`, no leading, trailing or double hyphen. */
export const skillNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'lowercase letters, digits and single inner hyphens');

export function isValidSkillName(name: string): boolean {
  return skillNameSchema.safeParse(name).success;
}

/** Known frontmatter keys are checked; unknown keys are kept as they are (never dropped). */
export const skillFrontmatterSchema = z.looseObject({
  name: skillNameSchema,
  description: z.string().min(1).max(1024),
  license: z.string().optional(),
  compatibility: z.string().max(500).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  'allowed-tools': z.string().optional(),
});

export type SkillFrontmatter = z.infer<typeof skillFrontmatterSchema>;

export interface ParsedSkill {
  frontmatter: SkillFrontmatter;
  body: string;
}

const FRONTMATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/** Max bytes of a SKILL.md; a skill file is prose, not data. */
const MAX_SKILL_MD_BYTES = 1024 * 1024;

/**
 * Parses a `SKILL.md`. When `expectedName` is given, the frontmatter `name` must equal it
 * (the folder name).
 */
export function parseSkill(text: string, expectedName?: string): ParsedSkill {
  if (text.length > MAX_SKILL_MD_BYTES) {
    throw new SkillsError('skill_invalid', 'SKILL.md is larger than 1 MiB');
  }
  const match = FRONTMATTER.exec(text);
  if (!match) {
    throw new SkillsError('skill_invalid', 'SKILL.md must start with a --- YAML frontmatter block');
  }
  let data: unknown;
  try {
    data = parseYaml(match[1] ?? '', { maxAliasCount: 50, uniqueKeys: true, prettyErrors: false });
  } catch {
    throw new SkillsError('skill_invalid', 'SKILL.md frontmatter is not valid YAML');
  }
  const parsed = skillFrontmatterSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'frontmatter';
    throw new SkillsError('skill_invalid', `SKILL.md ${where}: ${issue?.message ?? 'invalid'}`);
  }
  if (expectedName !== undefined && parsed.data.name !== expectedName) {
    throw new SkillsError(
      'skill_invalid',
      `SKILL.md name "${parsed.data.name}" does not match the folder name "${expectedName}"`,
    );
  }
  return { frontmatter: parsed.data, body: text.slice(match[0].length) };
}
