import { describe, expect, it } from 'vitest';
import { ConfigError, loadServeConfig } from './config.js';
import {
  decideRuntimeUrl,
  isLoopbackBind,
  parseRuntimeUrlPattern,
  RuntimeUrlPatternError,
} from './runtime-urls.js';
import { WorkerDirectory } from './worker-directory.js';

const allowed = (patterns: string[] | undefined, url: string, loopbackBind = false) =>
  decideRuntimeUrl(new URL(url), {
    patterns: patterns?.map(parseRuntimeUrlPattern),
    loopbackBind,
  }).allowed;

describe('runtime URL allowlist (pure)', () => {
  it('defaults: anything on a loopback bind, nothing beyond it', () => {
    expect(allowed(undefined, 'http://127.0.0.1:9/admin', true)).toBe(true);
    expect(allowed([], 'https://gpu.example.com', true)).toBe(true);
    expect(
      decideRuntimeUrl(new URL('http://127.0.0.1:9/'), {
        patterns: undefined,
        loopbackBind: false,
      }),
    ).toEqual({
      allowed: false,
      reason: 'not_configured',
    });
  });

  it('a configured list applies whatever the bind, and matches scheme, host, port and path', () => {
    const list = [
      'https://gpu-1.example.com',
      'https://*.runtimes.internal:*',
      'http://10.0.0.5:9000/rt/',
    ];
    for (const loopbackBind of [true, false]) {
      expect(allowed(list, 'https://gpu-1.example.com/', loopbackBind)).toBe(true);
      expect(allowed(list, 'https://GPU-1.example.com:443/', loopbackBind)).toBe(true);
      expect(allowed(list, 'https://a.b.runtimes.internal:8443', loopbackBind)).toBe(true);
      expect(allowed(list, 'http://10.0.0.5:9000/rt/x', loopbackBind)).toBe(true);
      for (const url of [
        'http://gpu-1.example.com',
        'https://gpu-1.example.com:8443',
        'https://gpu-1.example.com.evil.test',
        'https://runtimes.internal',
        'https://evilruntimes.internal',
        'http://10.0.0.5:9000/rtx',
        'http://10.0.0.5:9000/',
        'http://10.0.0.5:9000/rt/..%2f..%2fadmin',
        'http://10.0.0.5:9000/rt/..;/admin',
        'http://10.0.0.5:9000/rt/%2e%2e/admin',
        'http://127.0.0.1:9000/rt/',
        'http://2130706433:9000/rt/',
      ]) {
        expect(allowed(list, url, loopbackBind), url).toBe(false);
      }
    }
    // Both sides go through the URL parser: the numeric forms of an allowed IP are that IP.
    expect(allowed(['http://127.0.0.1:7000'], 'http://2130706433:7000/')).toBe(true);
    expect(allowed(['http://127.0.0.1:7000'], 'http://0x7f.1:7000/')).toBe(true);
    expect(allowed(['*'], 'http://anything:1/')).toBe(true);
  });

  it('bad patterns are refused (they fail the config at startup)', () => {
    for (const bad of [
      'gpu.example.com',
      'ftp://x',
      'https://x/a/../b',
      'https://x/a;b',
      'https://x/%2f',
      'https://*.127.0.0.1',
      'https://x:99999',
      'https://x?q',
    ]) {
      expect(() => parseRuntimeUrlPattern(bad), bad).toThrow(RuntimeUrlPatternError);
    }
    expect(() =>
      loadServeConfig({
        flags: { runtimeUrls: ['not a pattern'] },
        env: {},
        cwd: '/tmp',
        home: '/tmp',
      }),
    ).toThrow(ConfigError);
    const config = loadServeConfig({
      flags: {},
      env: { RUNYARD_RUNTIME_URLS: 'https://a.example, https://b.example:8443' },
      cwd: '/tmp',
      home: '/tmp',
    });
    expect(config.runtimeUrls).toEqual(['https://a.example', 'https://b.example:8443']);
  });

  it('knows a loopback bind', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopbackBind(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '::ffff:10.0.0.1'])
      expect(isLoopbackBind(host), host).toBe(false);
  });
});

describe('worker directory (pure)', () => {
  it('ids are unique across runtimes: a duplicate is a typed 409, never a re-pointing', () => {
    const d = new WorkerDirectory();
    d.reserve('shared', 'local');
    expect(() => d.reserve('shared', 'remote')).toThrow(
      expect.objectContaining({ code: 'worker_id_taken' }),
    );
    expect(() => d.reserve('shared', 'local')).toThrow(
      expect.objectContaining({ code: 'worker_id_taken' }),
    );
    expect(d.runtimeOf('shared')).toBe('local');
    // An id a remote answered with cannot take a local worker's.
    expect(d.claim('shared', 'remote')).toBe(false);
    expect(d.runtimeOf('shared')).toBe('local');
    expect(d.claim('fresh', 'remote')).toBe(true);
    expect(d.runtimeOf('fresh')).toBe('remote');
  });

  it('a failed create releases its reservation; unregistering a runtime frees its ids', () => {
    const d = new WorkerDirectory();
    const release = d.reserve('w', 'remote');
    release();
    expect(d.runtimeOf('w')).toBeUndefined();
    d.reserve('w', 'local');
    release(); // a stale release never frees another runtime's hold
    expect(d.runtimeOf('w')).toBe('local');
    d.claim('r1', 'remote');
    d.forgetRuntime('remote');
    expect(d.runtimeOf('r1')).toBeUndefined();
    expect(d.runtimeOf('w')).toBe('local');
  });
});
