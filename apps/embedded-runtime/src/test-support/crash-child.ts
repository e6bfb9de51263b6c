// Starts a runtime with one running notebook, reports it, then waits to be SIGKILLed: the test
// plays the part of a crash and checks what the next runtime finds.
import { join } from 'node:path';
import { createRuntime } from '../runtime.js';

const [root, python] = process.argv.slice(2) as [string, string];
const runtime = await createRuntime({
  dataDir: join(root, 'data'),
  cacheDir: join(root, 'cache'),
  configDir: join(root, 'config'),
  workspaceRoot: join(root, 'ws'),
  python,
  pool: { envs: 0, kernels: 0 },
  // Unsandboxed, like runtimeFor: a sandboxed kernel dies with its runtime (bwrap
  // --die-with-parent), and this test is about the orphans an unsandboxed one leaves.
  sandbox: 'off',
});
const info = await runtime.createNotebook({ path: 'crash.ipynb' });
process.stdout.write(
  `${JSON.stringify({ notebookId: info.notebookId, lifecycle: info.lifecycle })}\n`,
);
// Dependency edits back to back until the kill: it may land mid-write (issue 15 #10), leaving a
// temp file beside the notebook that the next start must remove.
for (let i = 0; ; i++) {
  await runtime
    .manageDependencies(info.notebookId, i % 2 === 0 ? { add: ['six'] } : { remove: ['six'] })
    .catch(() => undefined);
}
