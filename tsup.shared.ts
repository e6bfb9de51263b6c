// Shared tsup settings: ESM + .d.ts, built against dependencies' dist (tsconfig.build.json drops
// the source `paths` so declarations never inline a sibling package's source).
import { defineConfig, type Options } from 'tsup';

export function defineRunyardBuild(entry: Record<string, string>, extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    tsconfig: 'tsconfig.build.json',
    ...extra,
  });
}
