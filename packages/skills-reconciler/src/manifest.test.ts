import { describe, expect, it } from 'vitest';
import { githubTreeToTarball, parseManifest } from './manifest.js';
import { code } from './test-support/codes.js';

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
    expect(parseManifest(json, { local: true }).skills[0]?.sourceId).toBe(
      'tarball:file:///x/a.tgz',
    );
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

  it('allows file: sources only in local manifests and ssh git only when allowed', () => {
    const one = (source: unknown) =>
      JSON.stringify({ version: 1, skills: [{ name: 'a', source }] });
    const fileTarball = one({ type: 'tarball', url: 'file:///etc/a.tgz' });
    const fileGit = one({ type: 'git', url: 'file:///home/me/private-repo', ref: 'main' });
    const sshGit = one({ type: 'git', url: 'ssh://git@git.example.com/o/r.git', ref: 'main' });
    const scpGit = one({ type: 'git', url: 'git@git.example.com:o/r.git', ref: 'main' });
    for (const text of [fileTarball, fileGit]) {
      expect(code(() => parseManifest(text))).toBe('source_unsupported');
      expect(code(() => parseManifest(text, { local: false, allowSshGit: true }))).toBe(
        'source_unsupported',
      );
      expect(code(() => parseManifest(text, { local: true }))).toBeUndefined();
    }
    for (const text of [sshGit, scpGit]) {
      expect(code(() => parseManifest(text))).toBe('source_unsupported');
      expect(code(() => parseManifest(text, { local: true }))).toBe('source_unsupported');
      expect(code(() => parseManifest(text, { allowSshGit: true }))).toBeUndefined();
    }
  });

  it('refuses credentials in URLs and keeps query strings out of sourceId', () => {
    const one = (source: unknown) =>
      JSON.stringify({ version: 1, skills: [{ name: 'a', source }] });
    for (const source of [
      { type: 'tarball', url: 'https://user:pass@cdn.example.com/a.tgz' },
      { type: 'tarball', url: 'https://tok3n@cdn.example.com/a.tgz' },
      { type: 'git', url: 'https://user:pass@git.example.com/r.git', ref: 'main' },
      { type: 'git', url: 'ssh://git:pass@git.example.com/r.git', ref: 'main' },
    ]) {
      expect(
        code(() => parseManifest(one(source), { allowSshGit: true })),
        source.url,
      ).toBe('manifest_invalid');
    }
    const signed = 'https://cdn.example.com/a.tgz?X-Amz-Signature=s3cr3t&X-Amz-Expires=60';
    const [entry] = parseManifest(one({ type: 'tarball', url: signed })).skills;
    expect(entry?.source.url).toBe(signed); // still fetched with its query
    expect(entry?.sourceId).toMatch(
      /^tarball:https:\/\/cdn\.example\.com\/a\.tgz\?sha256=[0-9a-f]{32}$/,
    );
    const [other] = parseManifest(one({ type: 'tarball', url: `${signed}x` })).skills;
    expect(other?.sourceId).not.toBe(entry?.sourceId);
  });

  it('refuses manifests over 1 MiB', () => {
    const big = `version: 1\nskills: []\n#${'x'.repeat(1024 * 1024)}`;
    expect(code(() => parseManifest(big))).toBe('manifest_too_large');
  });
});
