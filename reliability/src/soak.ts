import type { PartResult } from './report.js';
import type { Context } from './run.js';
export async function soakPart(_ctx: Context): Promise<PartResult> {
  return { part: 'soak', rows: [], examples: [] };
}
