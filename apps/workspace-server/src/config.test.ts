import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadServeConfig, SERVE_OPTIONS, serveHelp } from './config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'runyard-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('loadServeConfig', () => {
  it('uses XDG defaults under the injected home', () => {
    const config = loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      workspace: dir,
      dataDir: join(dir, '.local/share/runyard'),
      cacheDir: join(dir, '.cache/runyard'),
      configDir: join(dir, '.config/runyard'),
    });
  });

  it('lets flags beat env, env beat the config file, the file beat defaults', () => {
    writeFileSync(join(dir, 'runyard.config.yaml'), 'port: 9000\nhost: 0.0.0.0\nlogLevel: warn\n');
    const config = loadServeConfig({
      flags: { port: '9002' },
      env: { RUNYARD_PORT: '9001', RUNYARD_HOST: '127.0.0.2' },
      cwd: dir,
      home: dir,
    });
    expect(config).toMatchObject({ port: 9002, host: '127.0.0.2', logLevel: 'warn' });
  });

  it('defaults the sandbox to auto and reads host grants from the config file', () => {
    expect(loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir }).sandbox).toBe('auto');
    writeFileSync(
      join(dir, 'runyard.config.json'),
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
      env: { RUNYARD_BWRAP: 'bin/bwrap' },
      cwd: dir,
      home: dir,
    });
    expect(config.sandbox).toBe('required');
    expect(config.bwrap).toBe(join(dir, 'bin/bwrap'));
    expect(config.grants?.mounts?.data?.path).toBe(join(dir, 'data'));
    expect(() =>
      loadServeConfig({ flags: { sandbox: 'maybe' }, env: {}, cwd: dir, home: dir }),
    ).toThrow(ConfigError);
    writeFileSync(
      join(dir, 'runyard.config.json'),
      JSON.stringify({ grants: { network: { x: { destinations: [{ host: 'a', evil: 1 }] } } } }),
    );
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir })).toThrow(ConfigError);
  });

  it.each([
    [{ flags: { port: '70000' } }, /port/],
    [{ flags: { port: 'abc' } }, /port/],
    [{ flags: { logLevel: 'loud' } }, /logLevel/],
    [{ env: { RUNYARD_TOKEN: 'short' } }, /token/],
  ])('refuses %j with a typed error', (partial, pattern) => {
    expect(() =>
      loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir, ...partial }),
    ).toThrowError(pattern);
  });

  it('refuses unknown keys and malformed files without echoing secrets', () => {
    writeFileSync(join(dir, 'runyard.config.json'), '{"port": 1, "bogus": true}');
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir })).toThrowError(
      ConfigError,
    );
    writeFileSync(join(dir, 'runyard.config.json'), '{"port":');
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir })).toThrowError(
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
    writeFileSync(join(dir, 'runyard.config.yaml'), `${bomb.join('\n')}\n`);
    expect(() => loadServeConfig({ flags: {}, env: {}, cwd: dir, home: dir })).toThrowError(
      ConfigError,
    );
  });

  it('lists every option, flag and environment variable in --help', () => {
    const help = serveHelp();
    for (const option of SERVE_OPTIONS) {
      expect(help).toContain(`--${option.flag}`);
      expect(help).toContain(option.env);
    }
  });
});
