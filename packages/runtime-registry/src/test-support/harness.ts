import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RuntimeServer, startRuntimeServer } from '../server/index.js';
import { MemoryRuntime } from './memory-runtime.js';

export const TOKEN = 'runtime-test-token-0123456789';

export interface Served {
  dir: string;
  api: MemoryRuntime;
  server: RuntimeServer;
  close(): Promise<void>;
}

/** A temp dir, a memory runtime on a real SQLite bundle store, and a real /v1 server. */
export async function serveMemoryRuntime(id = 'memory-runtime'): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'runyard-registry-'));
  const api = new MemoryRuntime(join(dir, 'runyard.db'), id);
  const server = await startRuntimeServer({ api, token: TOKEN });
  return {
    dir,
    api,
    server,
    async close() {
      await server.close();
      api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function tempRuntime(id = 'embedded'): { api: MemoryRuntime; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'runyard-registry-'));
  const api = new MemoryRuntime(join(dir, 'runyard.db'), id);
  return {
    api,
    close() {
      api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildServer {
  url: string;
  child: ChildProcess;
  /** Resolves when the child reports a `hang` execute has arrived. */
  hanging: Promise<void>;
  close(): Promise<void>;
}

/** The /v1 server in a child process (tsx), for tests that kill it. */
export async function spawnChildServer(): Promise<ChildServer> {
  const dir = mkdtempSync(join(tmpdir(), 'runyard-registry-child-'));
  const script = fileURLToPath(new URL('./serve-child.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, join(dir, 'runyard.db'), TOKEN],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let resolveHang!: () => void;
  const hanging = new Promise<void>((resolve) => {
    resolveHang = resolve;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffer += chunk;
      const match = /listening (\S+)\n/.exec(buffer);
      if (match?.[1]) resolve(match[1]);
      if (buffer.includes('hanging\n')) resolveHang();
    });
    child.once('exit', (code) => reject(new Error(`child server exited early (${code})`)));
  });
  return {
    url,
    child,
    hanging,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
