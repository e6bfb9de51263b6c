// Child process for the cross-process lock test: runs one pass on a shared root. With a pause
// point it stops there (announcing `AT <point>`) until a line arrives on stdin; it announces
// `WAITING` when another pass holds the root's lock, and `DONE <errors>` at the end.
import { createInterface } from 'node:readline';
import { createReconciler } from '../reconciler.js';

const [userRoot, manifestUrl, pausePoint] = process.argv.slice(2);
if (!userRoot || !manifestUrl) throw new Error('usage: lock-child <root> <manifest> [point]');

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
const keepAlive = setInterval(() => undefined, 60_000);
const reconciler = createReconciler({
  manifests: [manifestUrl],
  userSkillsRoot: userRoot,
  homeDir: userRoot,
  env: {},
  logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  checkpoint: async (point) => {
    if (point !== pausePoint) return;
    process.stdout.write(`AT ${point}\n`);
    await go;
  },
});
reconciler.on((event) => {
  if (event.type === 'pass_waiting' && event.reason === 'root_locked')
    process.stdout.write('WAITING\n');
});
const report = await reconciler.reconcile();
process.stdout.write(`DONE ${JSON.stringify(report.errors.map((e) => e.code))}\n`);
clearInterval(keepAlive);
lines.close();
