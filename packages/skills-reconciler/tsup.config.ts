import { defineRunyardBuild } from '../../tsup.shared.ts';

export default defineRunyardBuild({ index: 'src/index.ts', 'sqlite/index': 'src/sqlite/index.ts' });
