import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitEnv, resolveGitRef } from './git.js';
import { commitFiles, initRepo } from './test-support/git.js';
import { skillMd } from './test-support/tar-builder.js';

let dir: string;
const saved = { HOME: process.env.HOME, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-git-'));
});
afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('git environment', () => {
  it('ignores the real HOME and any global config (an insteadOf rewrite cannot redirect a fetch)', async () => {
    const repo = join(dir, 'repo');
    initRepo(repo);
    const commit = commitFiles(repo, { 'SKILL.md': skillMd('x') });
    const url = pathToFileURL(repo).href;
    // A hostile configuration in the real HOME, in GIT_CONFIG_GLOBAL and in the injected home.
    const hostile = `[url "file:///nonexistent-runyard/"]\n\tinsteadOf = ${url}\n`;
    for (const home of ['real-home', 'injected-home']) {
      mkdirSync(join(dir, home));
      writeFileSync(join(dir, home, '.gitconfig'), hostile);
    }
    process.env.HOME = join(dir, 'real-home');
    process.env.GIT_CONFIG_GLOBAL = join(dir, 'real-home', '.gitconfig');

    const injected = join(dir, 'injected-home');
    expect(await resolveGitRef(url, 'main', { homeDir: injected })).toBe(commit);
    const env = gitEnv({ homeDir: injected });
    expect(env).toMatchObject({
      HOME: injected,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ALLOW_PROTOCOL: 'file:git:http:https',
    });
    expect(gitEnv({ allowSsh: true }).GIT_ALLOW_PROTOCOL).toBe('file:git:http:https:ssh');
  });
});
