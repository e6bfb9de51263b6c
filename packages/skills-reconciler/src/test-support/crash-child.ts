// Child process for the SIGKILL test: runs one pass and freezes at the requested swap step,
// announcing it on stdout so the parent can kill it exactly there.
import { createReconciler } from '../reconciler.js';

const [userRoot, manifestUrl, killPoint] = process.argv.slice(2);
if (!userRoot || !manifestUrl || !killPoint)
  throw new Error('usage: crash-child <root> <manifest> <point>');

const keepAlive = setInterval(() => undefined, 60_000);
const reconciler = createReconciler({
  manifests: [manifestUrl],
  userSkillsRoot: userRoot,
  homeDir: userRoot,
  env: {},
  logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  checkpoint: async (point) => {
    if (point !== killPoint) return;
    process.stdout.write(`AT ${point}\n`);
    await new Promise(() => undefined);
  },
});
const report = await reconciler.reconcile();
process.stdout.write(`DONE ${JSON.stringify(report.errors)}\n`);
clearInterval(keepAlive);
