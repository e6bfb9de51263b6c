import type { Suite } from '../suite.js';
export const microSuite: Suite = {
  name: 'micro',
  async run() {
    return { figures: [], skipped: [] };
  },
};
