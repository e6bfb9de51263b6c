import type { PartResult } from './report.js';
import type { Context } from './run.js';
export async function diskPart(_ctx: Context): Promise<PartResult> {
  return { part: 'disk', rows: [], examples: [] };
}
