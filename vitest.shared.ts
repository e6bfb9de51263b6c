// Shared vitest settings: every package's tests resolve sibling workspace packages from source
// (the `paths` in tsconfig.base.json are the single source of truth), so no build is needed first.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function workspaceAliases(): { find: RegExp; replacement: string }[] {
  const base = JSON.parse(readFileSync(resolve(root, 'tsconfig.base.json'), 'utf8')) as {
    compilerOptions: { paths: Record<string, string[]> };
  };
  return Object.entries(base.compilerOptions.paths).map(([name, targets]) => ({
    find: new RegExp(`^${escapeRegExp(name)}$`),
    replacement: resolve(root, targets[0] ?? ''),
  }));
}

export function defineRunyardConfig(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: { alias: workspaceAliases() },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      pool: 'forks',
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...overrides,
    },
  });
}
