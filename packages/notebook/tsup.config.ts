import { defineRunyardBuild } from '../../tsup.shared.ts';

export default defineRunyardBuild({ index: 'src/index.ts' });
