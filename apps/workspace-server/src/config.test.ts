import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadServeConfig, SERVE_OPTIONS, serveHelp } from './config.js';

/** The workspace and current directory. */
let dir: string;
/** The injected home, outside the workspace. */
let home: string;
/** The default config dir under the injected home, where the config file is looked for. */
let configDir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-config-'));
  home = mkdtempSync(join(tmpdir(), 'runyard-config-home-'));
  configDir = join(home, '.config', 'runyard');
  mkdirSync(configDir, { recursive: true });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('loadServeConfig', () => {
  it('uses XDG defaults under the injected home', () => {
    const config = loadServeConfig({ flags: {}, env: {}, cwd: dir, home });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      workspace: dir,
      dataDir: join(home, '.local/share/runyard'),
      cacheDir: join(home, '.cache/runyard'),
      configDir: join(home, '.config/runyard'),
    });
  });

  it('lets flags beat env, env beat the config file, the file beat defaults', () => {
    writeFileSync(join(configDir, 'config.yaml'), 'port: 9000\nhost: 0.0.0.0\nlogLevel: warn\n');
    const config = loadServeConfig({
      flags: { port: '9002' },
      env: { RUNYARD_PORT: '9001', RUNYARD_HOST: '127.0.0.2' },
      cwd: dir,
      home,
    });
    expect(config).toMatchObject({ port: 9002, host: '127.0.0.2', logLevel: 'warn' });
  });

  it('defaults the sandbox to auto and reads host grants from the config file', () => {
    expect(loadServeConfig({ flags: {}, env: {}, cwd: dir, home }).sandbox).toBe('auto');
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({
        sandbox: 'required',
        grants: {
          network: {
            github: { destinations: [{ host: 'api.github.com' }], secrets: ['secret:gh'] },
          },
          mounts: { data: { path: 'data', readOnly: true } },
        },
      }),
    );
    const config = loadServeConfig({
      flags: {},
      env: { RUNYARD_BWRAP: join(home, 'bin/bwrap') },
      cwd: dir,
      home,
    });
    expect(config.sandbox).toBe('required');
    expect(config.bwrap).toBe(join(home, 'bin/bwrap'));
    expect(config.grants?.mounts?.data?.path).toBe(join(dir, 'data'));
    expect(() => loadServeConfig({ flags: { sandbox: 'maybe' }, env: {}, cwd: dir, home })).toThrow(
      ConfigError,
    );
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({ grants: { network: { x: { destinations: [{ host: 'a', evil: 1 }] } } } }),
    );
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home })).toThrow(ConfigError);
  });

  it.each([
    [{ flags: { port: '70000' } }, /port/],
    [{ flags: { port: 'abc' } }, /port/],
    [{ flags: { logLevel: 'loud' } }, /logLevel/],
    [{ env: { RUNYARD_TOKEN: 'short' } }, /token/],
  ])('refuses %j with a typed error', (partial, pattern) => {
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home, ...partial })).toThrowError(
      pattern,
    );
  });

  it('refuses unknown keys and malformed files without echoing secrets', () => {
    writeFileSync(join(configDir, 'config.json'), '{"port": 1, "bogus": true}');
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home })).toThrowError(ConfigError);
    writeFileSync(join(configDir, 'config.json'), '{"port":');
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home })).toThrowError(
      /not valid JSON/,
    );
  });

  it('refuses YAML alias bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 12; i++)
      bomb.push(
        `${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(10)
          .fill(i === 0 ? '*a' : `*${'b'.repeat(i)}`)
          .join(', ')}]`,
      );
    writeFileSync(join(configDir, 'config.yaml'), `${bomb.join('\n')}\n`);
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home })).toThrowError(ConfigError);
  });

  it('lists every option, flag and environment variable in --help', () => {
    const help = serveHelp();
    for (const option of SERVE_OPTIONS) {
      expect(help).toContain(`--${option.flag}`);
      expect(help).toContain(option.env);
    }
  });

  // Issue 15 finding 1: kernels (sandboxed too) have the workspace read-write, so a config file
  // there would let one turn the sandbox off or pick the interpreter the server runs.
  describe('issue 15 #1: nothing in the workspace configures the server', () => {
    it('ignores runyard.config.* in the workspace', () => {
      for (const name of ['runyard.config.json', 'config.json']) {
        writeFileSync(
          join(dir, name),
          JSON.stringify({ sandbox: 'off', python: join(dir, 'evilpy'), token: 'x'.repeat(32) }),
        );
      }
      writeFileSync(join(dir, 'runyard.config.yaml'), 'sandbox: off\n');
      const config = loadServeConfig({ flags: {}, env: {}, cwd: dir, home });
      expect(config.sandbox).toBe('auto');
      expect(config.python).toBeUndefined();
      expect(config.token).toBeUndefined();
    });

    it('refuses a --config file or a config dir inside the workspace', () => {
      writeFileSync(join(dir, 'mine.json'), '{"port": 9000}');
      expect(() =>
        loadServeConfig({ flags: {}, env: {}, cwd: dir, home, configFile: 'mine.json' }),
      ).toThrowError(/config file is inside the workspace/);
      // Through a symlink from outside: the real path counts.
      symlinkSync(join(dir, 'mine.json'), join(home, 'link.json'));
      expect(() =>
        loadServeConfig({
          flags: {},
          env: {},
          cwd: dir,
          home,
          configFile: join(home, 'link.json'),
        }),
      ).toThrowError(/config file is inside the workspace/);
      mkdirSync(join(dir, 'cfg'));
      writeFileSync(join(dir, 'cfg', 'config.json'), '{"sandbox": "off"}');
      expect(() =>
        loadServeConfig({ flags: { configDir: 'cfg' }, env: {}, cwd: dir, home }),
      ).toThrowError(/config file is inside the workspace/);
    });

    it.each([
      ['python', './evilpy'],
      ['wheelhouse', 'wheels'],
      ['bwrap', 'bin/bwrap'],
    ] as const)('refuses %s inside the workspace', (key, value) => {
      expect(() =>
        loadServeConfig({ flags: { [key]: value }, env: {}, cwd: dir, home }),
      ).toThrowError(new RegExp(`${key} is inside the workspace`));
      // A bare program name is looked up on PATH, not in the workspace.
      if (key !== 'wheelhouse')
        expect(loadServeConfig({ flags: { [key]: 'prog' }, env: {}, cwd: dir, home })[key]).toBe(
          'prog',
        );
    });
  });
});
