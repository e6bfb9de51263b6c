import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RuntimeError, type RuntimeEvent, RuntimeInfoSchema } from '@runyard/runtime-registry';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Runtime } from './runtime.js';
import {
  closeAndRemove,
  type Dirs,
  dirsUnder,
  plainResult,
  runtimeFor,
  tempRoot,
} from './test-support/helpers.js';

let dirs: Dirs;
let runtime: Runtime;
const events: RuntimeEvent[] = [];

beforeAll(async () => {
  dirs = dirsUnder(tempRoot('env-consent'));
  runtime = await runtimeFor(dirs, { envBuilds: 'confirm' });
  runtime.subscribe((event) => events.push(event));
});

afterAll(() => closeAndRemove(runtime, dirs));

it("with envBuilds 'confirm' an uncached env waits at awaiting_env_build until apply 'sync'", async () => {
  const info = await runtime.createNotebook({ path: 'a.ipynb', dependencies: ['packaging'] });
  expect(RuntimeInfoSchema.parse(info)).toEqual(info);
  expect(info).toMatchObject({
    lifecycle: 'awaiting_env_build',
    kernelStatus: null,
    trust: { status: 'trusted', needsApproval: false },
    nextAction: {
      kind: 'approve_env_build',
      mcp: { tool: 'manage_dependencies', arguments: { notebook_id: info.notebookId } },
      http: { method: 'POST', body: { apply: 'sync' } },
    },
  });
  const building = () =>
    events.some((e) => e.type === 'env_progress' && e.notebookId === info.notebookId);
  expect(building()).toBe(false);
  const refused = await runtime
    .execute(info.notebookId, { code: '1+1' })
    .catch((e: unknown) => e as RuntimeError);
  expect((refused as RuntimeError).code).toBe('notebook_not_ready');
  expect((refused as RuntimeError).message).toContain("apply: 'sync'");
  // apply 'none' is not consent.
  expect((await runtime.manageDependencies(info.notebookId, {})).lifecycle).toBe(
    'awaiting_env_build',
  );

  const body = info.nextAction?.http.body as { apply: 'sync' };
  const built = await runtime.manageDependencies(info.notebookId, body);
  expect(built.lifecycle).toBe('idle');
  expect(built.nextAction).toBeUndefined();
  expect(building()).toBe(true);
  expect(plainResult(await runtime.execute(info.notebookId, { code: '1+1' }))).toBe('2');

  // The env is cached now: a notebook with the same dependencies starts without asking.
  const second = await runtime.createNotebook({ path: 'b.ipynb', dependencies: ['packaging'] });
  expect(second.lifecycle).toBe('idle');
  expect(second.envHash).toBe(info.envHash);
});

it('trust comes first: approving dependencies leads to awaiting_env_build, not a build', async () => {
  writeFileSync(
    join(dirs.workspaceRoot, 'downloaded.ipynb'),
    JSON.stringify({
      cells: [],
      metadata: { uv: { dependencies: ['six'] } },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  const info = await runtime.openNotebook('downloaded.ipynb');
  expect(info.lifecycle).toBe('awaiting_trust');
  const approved = await runtime.manageDependencies(
    info.notebookId,
    info.nextAction?.http.body as { trust: true; fingerprint: string },
  );
  expect(approved.lifecycle).toBe('awaiting_env_build');
  expect(approved.trust.status).toBe('trusted');
  expect(approved.nextAction?.kind).toBe('approve_env_build');
});

it('concurrent dependency edits of one notebook all land in the file (none overwrites another)', async () => {
  const info = await runtime.createNotebook({ path: 'edits.ipynb', dependencies: ['packaging'] });
  const names = Array.from({ length: 12 }, (_, i) => `concurrent-edit-${i}`);
  // Reads and writes are asynchronous: unserialised, two edits read the same text and the later
  // write drops the earlier one's package.
  await Promise.all(
    names.map((name) => runtime.manageDependencies(info.notebookId, { add: [name] })),
  );
  const text = readFileSync(join(dirs.workspaceRoot, 'edits.ipynb'), 'utf8');
  for (const name of names) expect(text).toContain(`"${name}"`);
});
