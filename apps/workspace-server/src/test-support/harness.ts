import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServeConfig, type ServeConfig } from '../config.js';
import type { RuntimeProvider } from '../runtimes.js';
import { startWorkspaceServer, type WorkspaceServer } from '../server.js';
import { testRuntimeProvider } from './provider.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface Harness {
  dir: string;
  config: ServeConfig;
  server: WorkspaceServer;
  url: string;
  /** fetch with the bearer token. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

export function tempDir(prefix = 'runyard-ws-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Config for a test: every directory inside one temp dir, nothing under the real home. */
export function testConfig(
  dir: string,
  overrides: Record<string, string | string[]> = {},
  env: Record<string, string> = {},
): ServeConfig {
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  return loadServeConfig({
    flags: {
      host: '127.0.0.1',
      port: '0',
      workspace,
      dataDir: join(dir, 'data'),
      cacheDir: join(dir, 'cache'),
      configDir: join(dir, 'config'),
      skillsRoot: join(dir, 'home', '.claude', 'skills'),
      token: TEST_TOKEN,
      logLevel: 'silent',
      ...overrides,
    },
    env,
    cwd: dir,
    home: join(dir, 'home'),
  });
}

export async function startHarness(
  options: {
    overrides?: Record<string, string | string[]>;
    env?: Record<string, string>;
    provider?: RuntimeProvider;
  } = {},
): Promise<Harness> {
  const dir = tempDir();
  const env = options.env ?? {};
  const config = testConfig(dir, options.overrides, env);
  let server: WorkspaceServer;
  try {
    server = await startWorkspaceServer(config, {
      logger: false,
      env,
      provider: options.provider ?? testRuntimeProvider(),
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    config,
    server,
    url: server.url,
    api(path, init = {}) {
      const { json, headers, ...rest } = init;
      return fetch(`${server.url}${path}`, {
        ...rest,
        headers: {
          authorization: `Bearer ${TEST_TOKEN}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
          ...(headers as Record<string, string> | undefined),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `error.code` of an error response. */
export async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string } };
  return body.error?.code ?? '(no error body)';
}
