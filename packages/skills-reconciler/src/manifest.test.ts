import { describe, expect, it } from 'vitest';
import type { SkillsError } from './errors.js';
import { githubTreeToTarball, parseManifest } from './manifest.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as SkillsError).code;
  }
}

describe('parseManifest', () => {
  it('parses YAML and JSON, applies defaults and derives names', () => {
    const yaml = `version: 1
skills:
  - source: { type: tarball, url: "https://example.com/skills/pdf-tools.tgz" }
  - name: docs
    scope: project
    source: { type: git, url: "https://example.com/r.git", ref: main, subpath: "skills/docs/" }
  - source: https://github.com/acme/skills/tree/main/skills/review
`;
    const manifest = parseManifest(yaml);
    expect(manifest.skills.map((s) => [s.name, s.scope])).toEqual([
      ['pdf-tools', 'user'],
      ['docs', 'project'],
      ['review', 'user'],
    ]);
    expect(manifest.skills[1]?.source).toEqual({
      type: 'git',
      url: 'https://example.com/r.git',
      ref: 'main',
      subpath: 'skills/docs',
    });
    expect(manifest.skills[2]?.source).toEqual({
      type: 'tarball',
      url: 'https://codeload.github.com/acme/skills/tar.gz/main',
      subpath: 'skills/review',
    });
    const json = JSON.stringify({
      version: 1,
      skills: [{ name: 'a', source: { type: 'tarball', url: 'file:///x/a.tgz' } }],
    });
    expect(parseManifest(json).skills[0]?.sourceId).toBe('tarball:file:///x/a.tgz');
  });

  it('translates GitHub tree URLs without a path', () => {
    expect(githubTreeToTarball('https://github.com/o/my-skill/tree/v1.2')).toEqual({
      type: 'tarball',
      url: 'https://codeload.github.com/o/my-skill/tar.gz/v1.2',
    });
  });

  it('refuses malformed and hostile manifests', () => {
    const cases = [
      'version: 2\nskills: []',
      'skills: []',
      'version: 1\nskills: [{ source: { type: ftp, url: "ftp://x/y.tgz" } }]',
      'version: 1\nskills: [{ source: { type: tarball, url: "https://x/a.tgz", sha265: "ab" } }]',
      'version: 1\nskills: [{ source: { type: tarball, url: "https://x/a.tgz", subpath: "../etc" } }]',
      'version: 1\nskills: [{ source: { type: tarball, url: "https://x/a.tgz", subpath: "/etc" } }]',
      'version: 1\nskills: [{ source: { type: git, url: "ext::sh -c touch% /tmp/pwned", ref: main } }]',
      'version: 1\nskills: [{ source: { type: git, url: "--upload-pack=touch /tmp/x", ref: main } }]',
      'version: 1\nskills: [{ source: { type: git, url: "https://x/r.git", ref: "--output=/tmp/x" } }]',
      'version: 1\nskills: [{ name: "../../etc", source: { type: tarball, url: "https://x/a.tgz" } }]',
      'version: 1\nskills: [{ source: { type: tarball, url: "https://x/Bad_Name.tgz" } }]',
      'version: 1\nskills: [{ source: "https://gitlab.com/o/r/tree/main/x" }]',
      '{"version": 1, "skills": [], "__proto__": {"polluted": true}}',
      'version: 1\nskills: [{ __proto__: { x: 1 }, source: { type: tarball, url: "https://x/a.tgz" } }]',
      'version: 1\nversion: 1\nskills: []',
      'a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
      ': : :',
    ];
    for (const text of cases)
      expect(
        code(() => parseManifest(text)),
        text,
      ).toBe('manifest_invalid');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses manifests over 1 MiB', () => {
    const big = `version: 1\nskills: []\n#${'x'.repeat(1024 * 1024)}`;
    expect(code(() => parseManifest(big))).toBe('manifest_too_large');
  });
});
