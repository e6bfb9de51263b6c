import { defineRunyardBuild } from '../../tsup.shared.ts';

export default defineRunyardBuild(
  { index: 'src/index.ts', cli: 'src/cli.ts' },
  { banner: { js: '#!/usr/bin/env node' } },
);
