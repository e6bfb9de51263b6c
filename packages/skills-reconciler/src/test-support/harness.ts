import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  createReconciler,
  type Logger,
  type Reconciler,
  type ReconcilerOptions,
} from '../reconciler.js';
import { FakeScheduler } from './fake-timers.js';
import { body, startServer, type TestServer } from './server.js';

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export interface Harness {
  dir: string;
  home: string;
  userRoot: string;
  server: TestServer;
  scheduler: FakeScheduler;
  env: Record<string, string | undefined>;
  /** Serves a manifest (object → YAML) at `path`. */
  manifest(path: string, skills: unknown[], headers?: Record<string, string>): string;
  archive(path: string, data: Buffer): string;
  /** Writes a local manifest file (which, unlike a served one, may name file: sources). */
  localManifest(skills: unknown[]): string;
  reconciler(options?: Partial<ReconcilerOptions>): Reconciler;
  read(name: string, file?: string): string;
  writeUserSkill(name: string, text: string): void;
  close(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'runyard-skills-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const userRoot = join(home, '.claude', 'skills');
  const server = await startServer();
  const scheduler = new FakeScheduler();
  const env: Record<string, string | undefined> = {};
  const reconcilers: Reconciler[] = [];
  return {
    dir,
    home,
    userRoot,
    server,
    scheduler,
    env,
    manifest(path, skills, headers = {}) {
      server.routes.set(
        path,
        body(stringify({ version: 1, skills }), { 'content-type': 'application/yaml', ...headers }),
      );
      return `${server.url}${path}`;
    },
    localManifest(skills) {
      const path = join(dir, 'local-manifest.yaml');
      writeFileSync(path, stringify({ version: 1, skills }));
      return path;
    },
    archive(path, data) {
      server.routes.set(path, body(data, { 'content-type': 'application/gzip' }));
      return `${server.url}${path}`;
    },
    reconciler(options = {}) {
      const reconciler = createReconciler({
        manifests: [`${server.url}/manifest.yaml`],
        homeDir: home,
        env,
        logger: silentLogger,
        clock: scheduler,
        timers: scheduler,
        random: () => 0.5,
        ...options,
      });
      reconcilers.push(reconciler);
      return reconciler;
    },
    read(name, file = 'SKILL.md') {
      return readFileSync(join(userRoot, name, file), 'utf8');
    },
    writeUserSkill(name, text) {
      mkdirSync(join(userRoot, name), { recursive: true });
      writeFileSync(join(userRoot, name, 'SKILL.md'), text);
    },
    async close() {
      for (const reconciler of reconcilers) await reconciler.stop();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
