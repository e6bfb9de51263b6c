import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServeConfig, type ServeConfig } from '../config.js';
import type { RuntimeProvider } from '../runtimes.js';
import { startWorkspaceServer, type WorkspaceServer } from '../server.js';
import { processesMentioning, until } from './processes.js';

/** Debian's interpreter: it has ipykernel, venv and pip (never rely on PATH luck). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

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
  mkdirSync(join(dir, 'wheels'), { recursive: true });
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
      // Real kernels on Debian's python; no warm pools (two shared cores) and an offline
      // wheelhouse, so nothing reaches a package index.
      python: SYSTEM_PYTHON,
      kernelPool: '0',
      envPool: '0',
      wheelhouse: join(dir, 'wheels'),
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
  // What a real process has and nothing of the real home: kernels and build tools need PATH.
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(dir, 'home'),
    ...options.env,
  };
  const config = testConfig(dir, options.overrides, env);
  let server: WorkspaceServer;
  try {
    server = await startWorkspaceServer(config, {
      logger: false,
      env,
      ...(options.provider ? { provider: options.provider } : {}),
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
      // Every kernel's connection file lives under the temp dir: none may outlive the server.
      await until(() => processesMentioning(dir).length === 0, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `error.code` of an error response. */
export async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string } };
  return body.error?.code ?? '(no error body)';
}
