import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INVENTORY_FILE } from './inventory.js';
import { commitFiles, initRepo } from './test-support/git.js';
import { createHarness, type Harness } from './test-support/harness.js';
import { body } from './test-support/server.js';
import { buildTarGz, skillArchive, skillMd } from './test-support/tar-builder.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

const tarball = (url: string, extra: Record<string, unknown> = {}) => ({
  type: 'tarball',
  url,
  ...extra,
});

function names(items: { name: string }[]): string[] {
  return items.map((i) => i.name).sort();
}

describe('reconcile', () => {
  it('installs from tarballs and git, then reports unchanged; SKILL.md is byte-identical', async () => {
    const custom = 'x-team-owner: docs\nmetadata:\n  tier: gold\n';
    const archive = skillArchive('pdf', {
      wrap: 'pdf-1.0',
      extraFrontmatter: custom,
      files: { 'ref/a.md': 'A' },
    });
    const repo = join(h.dir, 'repo');
    initRepo(repo);
    const commit = commitFiles(repo, {
      'skills/docs/SKILL.md': skillMd('docs'),
      'README.md': 'root',
    });
    // A local manifest: only those may name file:// git repositories.
    const manifest = h.localManifest([
      { source: tarball(h.archive('/pdf.tgz', archive)) },
      {
        name: 'docs',
        source: { type: 'git', url: pathToFileURL(repo).href, ref: 'main', subpath: 'skills/docs' },
      },
    ]);
    const reconciler = h.reconciler({ manifests: [manifest] });

    const plan = await reconciler.plan();
    expect(names(plan.install)).toEqual(['docs', 'pdf']);
    expect(existsSync(h.userRoot)).toBe(false); // plan touches no disk

    const first = await reconciler.reconcile();
    expect(first.errors).toEqual([]);
    expect(first.install.map((i) => i.outcome)).toEqual(['applied', 'applied']);
    expect(h.read('pdf')).toBe(skillMd('pdf', 'The pdf skill, v1.', custom));
    expect(h.read('pdf', 'ref/a.md')).toBe('A');
    expect(readdirSync(join(h.userRoot, 'docs'))).toEqual(['SKILL.md']);
    const inventory = reconciler.status().inventory;
    expect(inventory.find((r) => r.name === 'docs')?.resolved).toBe(`git:${commit}`);
    expect(inventory.find((r) => r.name === 'pdf')?.resolved).toBe(
      `sha256:${createHash('sha256').update(archive).digest('hex')}`,
    );

    const second = await reconciler.reconcile();
    expect(names(second.unchanged)).toEqual(['docs', 'pdf']);
    expect(second.install).toEqual([]);
    expect(second.update).toEqual([]);
  });

  it('updates on an upstream digest change and on a new git commit', async () => {
    const repo = join(h.dir, 'repo');
    initRepo(repo);
    commitFiles(repo, { 'SKILL.md': skillMd('g', 'v1') });
    h.archive('/a.tgz', skillArchive('a', { version: 'v1' }));
    const manifest = h.localManifest([
      { name: 'a', source: tarball(`${h.server.url}/a.tgz`) },
      { name: 'g', source: { type: 'git', url: pathToFileURL(repo).href, ref: 'main' } },
    ]);
    const reconciler = h.reconciler({ manifests: [manifest] });
    await reconciler.reconcile();

    h.archive('/a.tgz', skillArchive('a', { version: 'v2' }));
    const commit2 = commitFiles(repo, { 'SKILL.md': skillMd('g', 'v2') });
    const plan = await reconciler.plan();
    expect(plan.update.map((i) => [i.name, i.reason])).toEqual([
      ['a', 'upstream_changed'],
      ['g', 'upstream_changed'],
    ]);
    const result = await reconciler.reconcile();
    expect(result.update.map((i) => i.outcome)).toEqual(['applied', 'applied']);
    expect(h.read('a')).toContain('v2');
    expect(h.read('g')).toContain('description: v2');
    expect(reconciler.status().inventory.find((r) => r.name === 'g')?.resolved).toBe(
      `git:${commit2}`,
    );
  });

  it('treats a new source under the same name as an update, never install + remove', async () => {
    h.manifest('/manifest.yaml', [
      { name: 'a', source: tarball(h.archive('/a.tgz', skillArchive('a'))) },
    ]);
    const reconciler = h.reconciler();
    await reconciler.reconcile();
    h.manifest('/manifest.yaml', [
      {
        name: 'a',
        source: tarball(h.archive('/a-fork.tgz', skillArchive('a', { version: 'fork' }))),
      },
    ]);
    const result = await reconciler.reconcile();
    expect(result.update.map((i) => [i.name, i.reason, i.outcome])).toEqual([
      ['a', 'source_changed', 'applied'],
    ]);
    expect(result.install).toEqual([]);
    expect(result.remove).toEqual([]);
    expect(h.read('a')).toContain('fork');
    expect(reconciler.status().inventory[0]?.sourceId).toBe(`tarball:${h.server.url}/a-fork.tgz`);
  });

  it('removes stale managed skills, never user skills; an empty manifest removes all managed ones', async () => {
    h.writeUserSkill('mine', skillMd('mine'));
    h.manifest('/manifest.yaml', [
      { source: tarball(h.archive('/a.tgz', skillArchive('a'))) },
      { source: tarball(h.archive('/b.tgz', skillArchive('b'))) },
    ]);
    const reconciler = h.reconciler();
    await reconciler.reconcile();
    h.manifest('/manifest.yaml', [{ source: tarball(`${h.server.url}/a.tgz`) }]);
    const dropB = await reconciler.reconcile();
    expect(dropB.remove.map((i) => [i.name, i.outcome])).toEqual([['b', 'applied']]);
    expect(existsSync(join(h.userRoot, 'b'))).toBe(false);

    h.manifest('/manifest.yaml', []);
    const empty = await reconciler.reconcile();
    expect(names(empty.remove)).toEqual(['a']);
    expect(readdirSync(h.userRoot).filter((n) => !n.startsWith('.'))).toEqual(['mine']);
    expect(h.read('mine')).toBe(skillMd('mine'));
    expect(reconciler.status().inventory).toEqual([]);
  });

  it('never touches a user-authored skill with a managed name (skill_name_conflict)', async () => {
    h.writeUserSkill('a', skillMd('a', 'mine, hands off'));
    h.manifest('/manifest.yaml', [{ source: tarball(h.archive('/a.tgz', skillArchive('a'))) }]);
    const reconciler = h.reconciler();
    const result = await reconciler.reconcile();
    expect(result.conflicts.map((c) => [c.code, c.name])).toEqual([['skill_name_conflict', 'a']]);
    expect(h.read('a')).toContain('mine, hands off');
    expect(reconciler.status().inventory).toEqual([]);
    h.manifest('/manifest.yaml', []);
    await reconciler.reconcile();
    expect(h.read('a')).toContain('mine, hands off');
  });

  it('merges manifests: first wins on the same source (warning), a name clash is an error', async () => {
    const a = h.archive('/a.tgz', skillArchive('a'));
    h.manifest('/baseline.yaml', [{ source: tarball(a) }]);
    h.manifest('/team.yaml', [
      { name: 'a', source: tarball(a) },
      {
        name: 'a',
        source: tarball(h.archive('/other-a.tgz', skillArchive('a', { version: 'other' }))),
      },
      { source: tarball(h.archive('/b.tgz', skillArchive('b'))) },
    ]);
    const reconciler = h.reconciler({
      manifests: [`${h.server.url}/baseline.yaml`, `${h.server.url}/team.yaml`],
    });
    const result = await reconciler.reconcile();
    expect(names(result.install)).toEqual(['a', 'b']);
    expect(
      result.warnings.some(
        (w) => w.includes('manifest #1') && w.includes('manifest #2') && w.includes('wins'),
      ),
    ).toBe(true);
    expect(result.errors.map((e) => [e.code, e.name])).toEqual([['skill_name_duplicate', 'a']]);
    expect(h.read('a')).toContain('v1');
  });

  it('isolates entries: a 404, a sha256 mismatch and an unsafe archive do not stop the others', async () => {
    const good = skillArchive('good');
    h.manifest('/manifest.yaml', [
      { name: 'missing', source: tarball(`${h.server.url}/missing.tgz`) },
      {
        name: 'pinned',
        source: tarball(h.archive('/pinned.tgz', skillArchive('pinned')), {
          sha256: 'a'.repeat(64),
        }),
      },
      {
        name: 'evil',
        source: tarball(
          h.archive(
            '/evil.tgz',
            buildTarGz([
              { path: 'SKILL.md', content: skillMd('evil') },
              { path: '../../pwned', content: 'x' },
            ]),
          ),
        ),
      },
      {
        name: 'good',
        source: tarball(h.archive('/good.tgz', good), {
          sha256: createHash('sha256').update(good).digest('hex'),
        }),
      },
    ]);
    const reconciler = h.reconciler();
    const result = await reconciler.reconcile();
    expect(result.install.filter((i) => i.outcome === 'applied').map((i) => i.name)).toEqual([
      'good',
    ]);
    expect(Object.fromEntries(result.errors.map((e) => [e.name, e.code]))).toEqual({
      missing: 'download_failed',
      pinned: 'digest_mismatch',
      evil: 'archive_unsafe',
    });
    expect(readdirSync(h.userRoot).sort()).toEqual([INVENTORY_FILE, 'good']);
    expect(existsSync(join(h.dir, 'pwned'))).toBe(false);
    expect(existsSync(join(h.home, 'pwned'))).toBe(false);
  });

  it('removes nothing when any manifest fails (5xx, 401, redirect, invalid), but still installs', async () => {
    h.manifest('/one.yaml', [{ source: tarball(h.archive('/a.tgz', skillArchive('a'))) }]);
    h.manifest('/two.yaml', [{ source: tarball(h.archive('/b.tgz', skillArchive('b'))) }]);
    const reconciler = h.reconciler({
      manifests: [`${h.server.url}/one.yaml`, `${h.server.url}/two.yaml`],
    });
    await reconciler.reconcile();

    h.manifest('/one.yaml', [{ source: tarball(h.archive('/c.tgz', skillArchive('c'))) }]);
    const failures: [
      string,
      typeof h.server.routes extends Map<string, infer H> ? H : never,
      string,
    ][] = [
      ['5xx', body('boom', {}, 503), 'manifest_fetch_failed'],
      ['401', body('no', {}, 401), 'manifest_unauthorized'],
      ['redirect', body('', { location: '/one.yaml' }, 302), 'manifest_redirect_refused'],
      ['invalid', body('version: 9'), 'manifest_invalid'],
    ];
    for (const [label, handler, code] of failures) {
      h.server.routes.set('/two.yaml', handler);
      const result = await reconciler.reconcile();
      expect(result.manifestsComplete, label).toBe(false);
      expect(
        result.errors.map((e) => e.code),
        label,
      ).toEqual([code]);
      expect(result.remove, label).toEqual([]);
      expect(existsSync(join(h.userRoot, 'a')), label).toBe(true);
      expect(existsSync(join(h.userRoot, 'b')), label).toBe(true);
      expect(existsSync(join(h.userRoot, 'c')), label).toBe(true);
    }
    expect(
      h.server.requests.filter((r) => r.path === '/one.yaml' && r.method === 'GET').length,
    ).toBeGreaterThan(1);
  });

  it('sends the token only to allowed hosts and drops it when a redirect changes host', async () => {
    const { startServer } = await import('./test-support/server.js');
    const other = await startServer();
    try {
      other.routes.set('/b.tgz', body(skillArchive('b')));
      other.routes.set('/c.tgz', body(skillArchive('c')));
      h.archive('/a.tgz', skillArchive('a'));
      h.server.routes.set('/c.tgz', body('', { location: `${other.url}/c.tgz` }, 302));
      h.manifest('/manifest.yaml', [
        { source: tarball(`${h.server.url}/a.tgz`) },
        { source: tarball(`${other.url}/b.tgz`) },
        { source: tarball(`${h.server.url}/c.tgz`) },
      ]);
      const reconciler = h.reconciler({ token: 'sekret-token-123' });
      const result = await reconciler.reconcile();
      expect(result.errors).toEqual([]);
      expect(names(result.install)).toEqual(['a', 'b', 'c']);
      const auth = (path: string, server = h.server) =>
        server.requests.filter((r) => r.path === path).map((r) => r.headers.authorization);
      expect(auth('/manifest.yaml')).toEqual(['Bearer sekret-token-123']);
      expect(auth('/a.tgz')).toEqual(['Bearer sekret-token-123']);
      expect(auth('/c.tgz')).toEqual(['Bearer sekret-token-123']);
      expect(other.requests.length).toBe(2);
      expect(other.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
      expect(JSON.stringify(result)).not.toContain('sekret');
    } finally {
      await other.close();
    }
  });

  it('serialises two concurrent reconcile() calls: one report each, no corruption', async () => {
    h.manifest('/manifest.yaml', [
      { source: tarball(h.archive('/a.tgz', skillArchive('a'))) },
      { source: tarball(h.archive('/b.tgz', skillArchive('b'))) },
    ]);
    const reconciler = h.reconciler();
    const events: string[] = [];
    reconciler.on((event) => {
      if (event.type === 'pass_waiting') events.push(`waiting:${event.reason}`);
      if (event.type === 'pass_started' || event.type === 'pass_finished') events.push(event.type);
    });
    const [first, second] = await Promise.all([reconciler.reconcile(), reconciler.reconcile()]);
    expect(first).not.toBe(second);
    expect(first.errors).toEqual([]);
    expect(names(first.install)).toEqual(['a', 'b']);
    expect(first.install.map((i) => i.outcome)).toEqual(['applied', 'applied']);
    // The second pass ran after the first had finished: it sees both installed.
    expect(second.errors).toEqual([]);
    expect(second.install).toEqual([]);
    expect(names(second.unchanged)).toEqual(['a', 'b']);
    expect(events).toEqual([
      'waiting:pass_running',
      'pass_started',
      'pass_finished',
      'pass_started',
      'pass_finished',
    ]);
    expect(readdirSync(h.userRoot).sort()).toEqual([INVENTORY_FILE, 'a', 'b']);
    expect(reconciler.status().inventory.map((r) => r.name)).toEqual(['a', 'b']);
  });

  it('times out a server that never finishes (manifest and archive) with fetch_timeout', async () => {
    // The manifest server never answers; the archive server sends headers and part of a body.
    // Only the stalled requests run under the tiny deadlines (a healthy one could miss them).
    h.server.routes.set('/stalled.yaml', () => undefined);
    h.server.routes.set('/stalled.tgz', (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(10));
    });
    h.manifest('/manifest.yaml', [{ source: tarball(`${h.server.url}/stalled.tgz`) }]);
    const manifestStalls = h.reconciler({
      manifests: [`${h.server.url}/stalled.yaml`],
      limits: { manifestTimeoutMs: 50 },
    });
    const first = await manifestStalls.reconcile();
    expect(first.errors.map((e) => [e.code, e.manifest])).toEqual([
      ['fetch_timeout', `manifest #1 (${h.server.url}/stalled.yaml)`],
    ]);

    const archiveStalls = h.reconciler({ limits: { archiveTimeoutMs: 50 } });
    const second = await archiveStalls.reconcile();
    expect(second.errors.map((e) => [e.code, e.name])).toEqual([['fetch_timeout', 'stalled']]);
    expect(existsSync(join(h.userRoot, 'stalled'))).toBe(false);
    // Both passes (and their locks) are over: another pass runs.
    h.manifest('/manifest.yaml', []);
    expect((await archiveStalls.reconcile()).errors).toEqual([]);
  });

  it('refuses file: sources named by a remote manifest (nothing local is copied)', async () => {
    const archivePath = join(h.dir, 'local.tgz');
    writeFileSync(archivePath, skillArchive('local'));
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: pathToFileURL(archivePath).href } },
    ]);
    const result = await h.reconciler().reconcile();
    expect(result.errors.map((e) => e.code)).toEqual(['source_unsupported']);
    expect(result.manifestsComplete).toBe(false);
    expect(existsSync(join(h.userRoot, 'local'))).toBe(false);
  });

  it('never puts a presigned query token in status, inventory or events', async () => {
    const signed = `${h.archive('/signed.tgz', skillArchive('signed'))}?X-Amz-Signature=qs-sekret-42`;
    h.manifest('/manifest.yaml', [{ source: tarball(signed) }]);
    const reconciler = h.reconciler();
    const events: unknown[] = [];
    reconciler.on((event) => events.push(event));
    const first = await reconciler.reconcile();
    expect(first.errors).toEqual([]);
    expect(names(first.install)).toEqual(['signed']);
    // The query was sent to the server, so the identity is stable and the skill unchanged.
    expect(h.server.requests.filter((r) => r.path === '/signed.tgz')).toHaveLength(1);
    const second = await reconciler.reconcile();
    expect(names(second.unchanged)).toEqual(['signed']);
    const everything = [
      JSON.stringify(first),
      JSON.stringify(second),
      JSON.stringify(events),
      JSON.stringify(reconciler.status()),
      readFileSync(join(h.userRoot, INVENTORY_FILE), 'utf8'),
    ].join('\n');
    expect(everything).toContain('/signed.tgz');
    expect(everything).not.toContain('qs-sekret-42');
  });

  it('scopes the default token per manifest: a manifest cannot send it to another manifest host', async () => {
    const { startServer } = await import('./test-support/server.js');
    const other = await startServer();
    try {
      // Manifest 1 (this server) names an archive on the other manifest's host.
      h.manifest('/manifest.yaml', [{ source: tarball(`${other.url}/from-first.tgz`) }]);
      other.routes.set('/from-first.tgz', body(skillArchive('from-first')));
      other.routes.set('/own.tgz', body(skillArchive('own')));
      other.routes.set(
        '/second.yaml',
        body(`version: 1\nskills:\n  - source: { type: tarball, url: "${other.url}/own.tgz" }\n`),
      );
      const reconciler = h.reconciler({
        token: 'scoped-token',
        manifests: [`${h.server.url}/manifest.yaml`, `${other.url}/second.yaml`],
      });
      const result = await reconciler.reconcile();
      expect(result.errors).toEqual([]);
      const auth = (server: typeof other, path: string) =>
        server.requests.filter((r) => r.path === path).map((r) => r.headers.authorization);
      expect(auth(h.server, '/manifest.yaml')).toEqual(['Bearer scoped-token']);
      expect(auth(other, '/second.yaml')).toEqual(['Bearer scoped-token']);
      expect(auth(other, '/own.tgz')).toEqual(['Bearer scoped-token']);
      expect(auth(other, '/from-first.tgz')).toEqual([undefined]);

      // An explicit tokenHosts list applies to every manifest.
      const wide = h.reconciler({
        token: 'scoped-token',
        tokenHosts: [h.server.host, other.host],
        manifests: [`${h.server.url}/manifest.yaml`],
      });
      await wide.plan();
      expect(auth(other, '/from-first.tgz').at(-1)).toBe('Bearer scoped-token');
    } finally {
      await other.close();
    }
  });

  it('reuses the last ETag with If-None-Match', async () => {
    let hits = 0;
    const yaml = `version: 1\nskills:\n  - source: { type: tarball, url: "${h.archive('/a.tgz', skillArchive('a'))}" }\n`;
    h.server.routes.set('/manifest.yaml', (req, res) => {
      hits++;
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      }
      res.writeHead(200, { etag: '"v1"', 'content-type': 'application/yaml' });
      res.end(yaml);
    });
    const reconciler = h.reconciler();
    await reconciler.reconcile();
    const second = await reconciler.reconcile();
    expect(hits).toBe(2);
    const conditional = h.server.requests
      .filter((r) => r.path === '/manifest.yaml')
      .map((r) => r.headers['if-none-match']);
    expect(conditional).toEqual([undefined, '"v1"']);
    expect(second.errors).toEqual([]);
    expect(names(second.unchanged)).toEqual(['a']);
  });

  it('refuses oversized archives and oversized manifests', async () => {
    h.manifest('/manifest.yaml', [
      {
        source: tarball(
          h.archive(
            '/big.tgz',
            skillArchive('big', { files: { 'x.bin': randomBytes(100_000).toString('base64') } }),
          ),
        ),
      },
    ]);
    const reconciler = h.reconciler({ limits: { maxArchiveBytes: 1024 } });
    const result = await reconciler.reconcile();
    expect(result.errors.map((e) => e.code)).toEqual(['archive_too_large']);
    const skillCap = h.reconciler({ limits: { maxSkillBytes: 1024, maxInflatedBytes: 1 << 20 } });
    expect((await skillCap.reconcile()).errors.map((e) => e.code)).toEqual(['skill_too_large']);
    h.server.routes.set(
      '/manifest.yaml',
      body(`version: 1\nskills: []\n#${'x'.repeat(2 * 1024 * 1024)}`),
    );
    expect((await reconciler.reconcile()).errors.map((e) => e.code)).toEqual([
      'manifest_too_large',
    ]);
    expect(existsSync(join(h.userRoot, 'big'))).toBe(false);
  });

  it('reports drift and keeps local edits unless onDrift is overwrite', async () => {
    h.manifest('/manifest.yaml', [{ source: tarball(h.archive('/a.tgz', skillArchive('a'))) }]);
    const keep = h.reconciler();
    await keep.reconcile();
    writeFileSync(join(h.userRoot, 'a', 'SKILL.md'), skillMd('a', 'edited locally'));
    const plan = await keep.plan();
    expect(plan.unchanged.map((i) => [i.name, i.drift])).toEqual([['a', true]]);
    expect(plan.warnings.join()).toContain('edited locally');
    await keep.reconcile();
    expect(h.read('a')).toContain('edited locally');

    const overwrite = h.reconciler({ onDrift: 'overwrite' });
    const result = await overwrite.reconcile();
    expect(result.update.map((i) => [i.name, i.reason, i.outcome])).toEqual([
      ['a', 'drift', 'applied'],
    ]);
    expect(h.read('a')).toContain('v1');

    // A drifted skill dropped from the manifest is left in place and disowned.
    writeFileSync(join(h.userRoot, 'a', 'notes.md'), 'mine');
    h.manifest('/manifest.yaml', []);
    const dropped = await keep.reconcile();
    expect(dropped.conflicts.map((c) => [c.code, c.name])).toEqual([['skill_drifted', 'a']]);
    expect(h.read('a', 'notes.md')).toBe('mine');
    expect(keep.status().inventory).toEqual([]);
  });

  it('installs from a local manifest path and file:// tarballs, pinned git commits, project scope', async () => {
    const archivePath = join(h.dir, 'local.tgz');
    writeFileSync(archivePath, skillArchive('local'));
    const repo = join(h.dir, 'repo');
    initRepo(repo);
    const pinned = commitFiles(repo, { 'SKILL.md': skillMd('pinned', 'first') });
    commitFiles(repo, { 'SKILL.md': skillMd('pinned', 'second') });
    const workspace = join(h.dir, 'workspace');
    mkdirSync(workspace);
    const manifestPath = join(h.dir, 'skills.json');
    writeFileSync(
      manifestPath,
      JSON.stringify({
        version: 1,
        skills: [
          { source: { type: 'tarball', url: pathToFileURL(archivePath).href } },
          {
            name: 'pinned',
            scope: 'project',
            source: { type: 'git', url: pathToFileURL(repo).href, ref: pinned },
          },
        ],
      }),
    );
    const reconciler = h.reconciler({ manifests: [manifestPath], workspaceDir: workspace });
    const result = await reconciler.reconcile();
    expect(result.errors).toEqual([]);
    expect(h.read('local')).toContain('name: local');
    expect(
      readFileSync(join(workspace, '.claude', 'skills', 'pinned', 'SKILL.md'), 'utf8'),
    ).toContain('first');

    const noWorkspace = h.reconciler({ manifests: [pathToFileURL(manifestPath).href] });
    const missing = await noWorkspace.plan();
    expect(missing.errors.map((e) => e.code)).toEqual(['project_root_missing']);

    // A vanished local archive is an entry error whose message names no host path.
    rmSync(archivePath);
    const gone = await h.reconciler({ manifests: [manifestPath], workspaceDir: workspace }).plan();
    expect(gone.errors.map((e) => e.code)).toEqual(['download_failed']);
    expect(gone.errors.map((e) => e.message).join()).not.toContain(h.dir);
  });

  it('cleans leftover staging directories at the start of a pass', async () => {
    mkdirSync(join(h.userRoot, '.runyard-staging-abc123', 'new'), { recursive: true });
    writeFileSync(join(h.userRoot, '.runyard-staging-abc123', 'new', 'SKILL.md'), 'partial');
    h.manifest('/manifest.yaml', []);
    await h.reconciler().reconcile();
    expect(readdirSync(h.userRoot)).toEqual([]);
  });
});

// Issue 15 finding 10: a kernel made the workspace's `.claude` (or `.claude/skills`) a symlink to
// a folder outside; the reconciler installed through it and so wrote outside the workspace.
describe('issue 15 #10: symlinked skills roots', () => {
  for (const linked of ['.claude', '.claude/skills'] as const) {
    it(`refuses a project root whose ${linked} is a symlink, writes nothing outside`, async () => {
      const workspace = join(h.dir, 'workspace');
      const outside = join(h.dir, 'outside');
      mkdirSync(outside);
      mkdirSync(join(workspace, linked === '.claude' ? '' : '.claude'), { recursive: true });
      symlinkSync(outside, join(workspace, linked));
      const manifest = h.manifest('/manifest.yaml', [
        { scope: 'project', source: tarball(h.archive('/p.tgz', skillArchive('p'))) },
      ]);
      const report = await h
        .reconciler({ manifests: [manifest], workspaceDir: workspace })
        .reconcile();
      expect(report.errors.map((e) => e.code)).toContain('skills_root_unsafe');
      expect(readdirSync(outside)).toEqual([]);
    });
  }

  it('refuses a user root that is a symlink', async () => {
    const outside = join(h.dir, 'outside');
    mkdirSync(outside);
    mkdirSync(join(h.home, '.claude'));
    symlinkSync(outside, h.userRoot);
    const manifest = h.manifest('/manifest.yaml', [
      { source: tarball(h.archive('/u.tgz', skillArchive('u'))) },
    ]);
    const report = await h.reconciler({ manifests: [manifest] }).reconcile();
    expect(report.errors.map((e) => e.code)).toContain('skills_root_unsafe');
    expect(readdirSync(outside)).toEqual([]);
  });
});
