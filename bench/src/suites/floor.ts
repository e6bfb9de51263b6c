import { kernelStarts } from '../baselines/kernel-start.js';
import type { Suite } from '../suite.js';

/** The floor (bare `import ipykernel.kernelapp`) and Jupyter's own start path. */
export const floorSuite: Suite = {
  name: 'baselines',
  async run(ctx) {
    const { figures, skipped } = await kernelStarts(ctx);
    return { figures, skipped };
  },
};
