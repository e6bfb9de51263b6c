import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExtractSkillOptions, extractSkill } from './archive.js';
import type { SkillsError } from './errors.js';
import {
  buildTar,
  buildTarGz,
  type RawEntry,
  skillArchive,
  skillMd,
} from './test-support/tar-builder.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-archive-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const opts: ExtractSkillOptions = { unwrap: true, maxSkillBytes: 1024 * 1024 };

async function refusal(data: Buffer, options = opts): Promise<string | undefined> {
  try {
    await extractSkill(data, join(dir, 'out'), options);
    return undefined;
  } catch (error) {
    return (error as SkillsError).code;
  }
}

describe('extractSkill', () => {
  it('extracts a plain archive and a wrapped one, keeping only the executable bit', async () => {
    await extractSkill(
      buildTarGz([
        { path: './SKILL.md', content: skillMd('a') },
        { path: './scripts/run.sh', content: '#!/bin/sh\n', mode: 0o4777 },
      ]),
      join(dir, 'a'),
      opts,
    );
    expect(readFileSync(join(dir, 'a', 'SKILL.md'), 'utf8')).toContain('name: a');
    expect(statSync(join(dir, 'a', 'scripts', 'run.sh')).mode & 0o7777).toBe(0o755);

    await extractSkill(skillArchive('b', { wrap: 'repo-abc123' }), join(dir, 'b'), opts);
    expect(readdirSync(join(dir, 'b'))).toEqual(['SKILL.md']);
  });

  it('extracts only the subpath (directly or under a single wrapper folder)', async () => {
    const archive = buildTarGz([
      { path: 'repo-main/', type: '5' },
      { path: 'repo-main/README.md', content: 'hi' },
      { path: 'repo-main/skills/x/SKILL.md', content: skillMd('x') },
      { path: 'repo-main/skills/x/ref.md', content: 'ref' },
      { path: 'repo-main/skills/y/SKILL.md', content: skillMd('y') },
    ]);
    await extractSkill(archive, join(dir, 'x'), { ...opts, subpath: 'skills/x' });
    expect(readdirSync(join(dir, 'x')).sort()).toEqual(['SKILL.md', 'ref.md']);
    await extractSkill(archive, join(dir, 'y'), { ...opts, subpath: 'repo-main/skills/y' });
    expect(readdirSync(join(dir, 'y'))).toEqual(['SKILL.md']);
    expect(await refusal(archive, { ...opts, subpath: 'skills/none' })).toBe('skill_invalid');
  });

  // Each case: one hostile entry beside a valid SKILL.md at the root (or at `s/` with a subpath).
  const hostile: [string, RawEntry, string?][] = [
    ['path traversal', { path: '../escape.txt', content: 'x' }],
    ['nested traversal', { path: 'a/../../escape.txt', content: 'x' }],
    ['absolute path', { path: '/tmp/escape.txt', content: 'x' }],
    ['symlink', { path: 'link', type: '2', linkpath: '/etc/passwd' }],
    ['hardlink', { path: 'hl', type: '1', linkpath: 'SKILL.md' }],
    ['char device', { path: 'null', type: '3' }],
    ['block device', { path: 'sda', type: '4' }],
    ['fifo', { path: 'pipe', type: '6' }],
    ['backslash path', { path: '..\\escape.txt', content: 'x' }],
    ['symlink outside the subpath', { path: 'other/l', type: '2', linkpath: '/' }, 's'],
  ];

  for (const [label, entry, subpath] of hostile) {
    it(`refuses an archive with a ${label} and writes nothing`, async () => {
      const skill = subpath === undefined ? 'SKILL.md' : `${subpath}/SKILL.md`;
      const archive = buildTarGz([{ path: skill, content: skillMd(subpath ?? 'a') }, entry]);
      expect(await refusal(archive, { ...opts, subpath })).toBe('archive_unsafe');
      expect(readdirSync(dir)).toEqual([]);
      expect(existsSync(join(dir, '..', 'escape.txt'))).toBe(false);
    });
  }

  it('refuses a skill over the extracted-size cap', async () => {
    const archive = buildTarGz([
      { path: 'SKILL.md', content: skillMd('a') },
      { path: 'big.bin', content: Buffer.alloc(64 * 1024, 1) },
    ]);
    expect(await refusal(archive, { ...opts, maxSkillBytes: 32 * 1024 })).toBe('skill_too_large');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops a gzip bomb outside the skill folder at the inflated-bytes cap (10 x the skill cap)', async () => {
    // A repeated random block compresses ~100:1: under tar's own 1000:1 ratio guard, so only
    // a cap on inflated bytes stops it (scaled up, 100 MiB would inflate to ~10 GiB).
    const block = randomBytes(1024);
    const filler = Buffer.concat(Array.from({ length: 16 * 1024 }, () => block));
    const bomb = buildTarGz([
      { path: 'skill/SKILL.md', content: skillMd('skill') },
      { path: 'other/filler.bin', content: filler },
    ]);
    expect(bomb.byteLength).toBeLessThan(filler.byteLength / 50);
    const capped = { ...opts, subpath: 'skill', maxSkillBytes: 1024 * 1024 };
    expect(await refusal(bomb, capped)).toBe('archive_too_large');
    expect(await refusal(bomb, { ...capped, maxInflatedBytes: 1024 * 1024 })).toBe(
      'archive_too_large',
    );
    expect(readdirSync(dir)).toEqual([]);
    // The same archive under a cap it fits is fine: only the skill folder is extracted.
    expect(await refusal(bomb, { ...capped, maxInflatedBytes: 32 * 1024 * 1024 })).toBeUndefined();
    expect(readdirSync(join(dir, 'out'))).toEqual(['SKILL.md']);
  });

  it('refuses an archive with too many entries, even outside the skill folder', async () => {
    const many = (count: number) =>
      buildTarGz([
        { path: 'skill/SKILL.md', content: skillMd('skill') },
        ...Array.from({ length: count }, (_, i) => ({ path: `junk/${i}.txt`, content: 'x' })),
      ]);
    const capped = { ...opts, subpath: 'skill', maxArchiveEntries: 50 };
    expect(await refusal(many(60), capped)).toBe('archive_too_large');
    expect(readdirSync(dir)).toEqual([]);
    expect(await refusal(many(40), capped)).toBeUndefined();
  });

  it('refuses archives without SKILL.md and garbage bytes', async () => {
    expect(await refusal(buildTarGz([{ path: 'README.md', content: 'x' }]))).toBe('skill_invalid');
    expect(
      await refusal(Buffer.from('definitely not a tarball, just some text'.repeat(40))),
    ).toMatch(/archive_invalid|skill_invalid/);
    expect(
      await refusal(buildTar([{ path: 'SKILL.md', content: skillMd('a') }]).subarray(0, 700)),
    ).toMatch(/archive_invalid|skill_invalid/);
  });
});

describe('safeEntryPath (property)', () => {
  it('either refuses or yields a relative path without ".." segments', async () => {
    const fc = await import('fast-check');
    const { safeEntryPath } = await import('./archive.js');
    const segment = fc.constantFrom('..', '.', '', 'a', 'b.md', '/', '\\', 'C:', '\0', 'ü');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (parts) => {
        const raw = parts.join('/');
        let clean: string;
        try {
          clean = safeEntryPath(raw);
        } catch (error) {
          expect((error as SkillsError).code).toBe('archive_unsafe');
          return;
        }
        expect(clean.startsWith('/')).toBe(false);
        expect(clean.split('/')).not.toContain('..');
        expect(clean.includes('\\')).toBe(false);
      }),
    );
  });
});
