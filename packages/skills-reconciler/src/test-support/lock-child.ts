// Child process for the cross-process lock tests: runs one pass on a shared root. With a pause
// point (`-` for none) it stops there (announcing `AT <point>`) until a line arrives on stdin;
// it announces `WAITING` when another pass holds the root's lock, and `DONE <error codes>` at
// the end. An optional last argument bounds the lock wait (`limits.lockWaitMs`).
import { createInterface } from 'node:readline';
import { createReconciler } from '../reconciler.js';

const [userRoot, manifestUrl, pausePoint, lockWaitMs] = process.argv.slice(2);
if (!userRoot || !manifestUrl)
  throw new Error('usage: lock-child <root> <manifest> [point|-] [lockWaitMs]');

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
const keepAlive = setInterval(() => undefined, 60_000);
const reconciler = createReconciler({
  manifests: [manifestUrl],
  userSkillsRoot: userRoot,
  homeDir: userRoot,
  env: {},
  limits: lockWaitMs ? { lockWaitMs: Number(lockWaitMs) } : {},
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
