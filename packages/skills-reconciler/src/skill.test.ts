import { describe, expect, it } from 'vitest';
import type { SkillsError } from './errors.js';
import { isValidSkillName, parseSkill } from './skill.js';

describe('skill names', () => {
  it('accepts lowercase names with single inner hyphens', () => {
    for (const name of ['a', 'pdf', 'pdf-tools', 'a1-b2-c3', 'x'.repeat(64)]) {
      expect(isValidSkillName(name)).toBe(true);
    }
  });
  it('refuses bad names', () => {
    for (const name of [
      '',
      '-a',
      'a-',
      'a--b',
      'A',
      'a_b',
      'a.b',
      '../x',
      'x'.repeat(65),
      '__proto__',
    ]) {
      expect(isValidSkillName(name)).toBe(false);
    }
  });
});

describe('parseSkill', () => {
  it('parses frontmatter and keeps unknown keys', () => {
    const text = `---\nname: pdf\ndescription: Read PDFs.\nlicense: MIT\nallowed-tools: Read Bash\nmetadata:\n  team: docs\nx-custom: kept\n---\nbody\n`;
    const skill = parseSkill(text, 'pdf');
    expect(skill.frontmatter.name).toBe('pdf');
    expect(skill.frontmatter['x-custom']).toBe('kept');
    expect(skill.frontmatter.metadata).toEqual({ team: 'docs' });
    expect(skill.body).toBe('body\n');
  });

  it('requires the name to match the folder', () => {
    expect(() => parseSkill('---\nname: pdf\ndescription: d\n---\n', 'docx')).toThrow(
      /does not match/,
    );
  });

  it('refuses missing frontmatter, bad YAML, missing description and long descriptions', () => {
    const bad = [
      'no frontmatter',
      '---\nname: [unclosed\n---\n',
      '---\nname: pdf\n---\n',
      `---\nname: pdf\ndescription: ${'x'.repeat(1025)}\n---\n`,
      '---\nname: Bad_Name\ndescription: d\n---\n',
    ];
    for (const text of bad) {
      try {
        parseSkill(text);
        expect.unreachable(text);
      } catch (error) {
        expect((error as SkillsError).code).toBe('skill_invalid');
      }
    }
  });
});
