import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractSkill } from './archive.js';
import { digestTree, digestTreeIfExists } from './digest.js';
import { createFileInventory } from './inventory.js';
import { createHarness, type Harness } from './test-support/harness.js';
import { body } from './test-support/server.js';
import { skillArchive } from './test-support/tar-builder.js';

const CHILD = fileURLToPath(new URL('./test-support/crash-child.ts', import.meta.url));

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** Runs the child until it announces `point`, then SIGKILLs it. */
function killAt(point: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, h.userRoot, `${h.server.url}/manifest.yaml`, point],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(`AT ${point}`)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited without reaching ${point}: ${out} ${err}`));
    });
  });
}

async function digestOf(archive: Buffer): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'runyard-digest-'));
  try {
    await extractSkill(archive, join(dir, 's'), { unwrap: true, maxSkillBytes: 1 << 20 });
    return (await digestTree(join(dir, 's'))).digest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function staging(): string[] {
  return readdirSync(h.userRoot).filter((name) => name.startsWith('.runyard-staging'));
}

/** A restart with the manifest host down: only crash recovery runs (nothing installed or removed). */
async function restartWithManifestDown(): Promise<void> {
  const saved = h.server.routes.get('/manifest.yaml');
  h.server.routes.set('/manifest.yaml', body('down', {}, 503));
  await h.reconciler().reconcile();
  if (saved) h.server.routes.set('/manifest.yaml', saved);
}

async function expectConsistent(allowed: (string | undefined)[]): Promise<void> {
  expect(staging()).toEqual([]);
  const onDisk = await digestTreeIfExists(join(h.userRoot, 'a'));
  expect(allowed).toContain(onDisk);
  const record = createFileInventory().get(h.userRoot, 'a');
  if (onDisk === undefined) expect(record).toBeUndefined();
  else expect(record?.contentDigest).toBe(onDisk);
}

describe('a process killed with SIGKILL mid-install', () => {
  it('leaves the old or the new skill at every step of an update, and a restart makes it consistent', async () => {
    const v1 = skillArchive('a', { version: 'v1', files: { 'one.md': '1' } });
    const v2 = skillArchive('a', { version: 'v2', files: { 'two.md': '2' } });
    const [d1, d2] = [await digestOf(v1), await digestOf(v2)];
    h.manifest('/manifest.yaml', [
      { name: 'a', source: { type: 'tarball', url: h.archive('/a.tgz', v1) } },
    ]);
    await h.reconciler().reconcile();

    // The three steps inside the swap; before it the old skill is untouched, after it all is recorded.
    for (const point of ['intent-written', 'old-moved-aside', 'new-in-place']) {
      h.archive('/a.tgz', v1);
      await h.reconciler().reconcile();
      expect(await digestTreeIfExists(join(h.userRoot, 'a'))).toBe(d1);

      h.archive('/a.tgz', v2);
      await killAt(point);
      // Right after the kill: never a mix (the folder is old, new, or briefly moved aside).
      expect([d1, d2, undefined]).toContain(await digestTreeIfExists(join(h.userRoot, 'a')));

      await restartWithManifestDown();
      await expectConsistent([d1, d2]);

      const after = await h.reconciler().reconcile();
      expect(after.errors, point).toEqual([]);
      expect(after.conflicts, point).toEqual([]);
      await expectConsistent([d2]);
    }
  });

  it('keeps ownership of a first install killed before it was recorded, and finishes a killed removal', async () => {
    const v1 = skillArchive('a');
    const d1 = await digestOf(v1);
    h.manifest('/manifest.yaml', [
      { name: 'a', source: { type: 'tarball', url: h.archive('/a.tgz', v1) } },
    ]);
    await killAt('new-in-place');
    await restartWithManifestDown();
    await expectConsistent([d1]);
    expect((await h.reconciler().reconcile()).conflicts).toEqual([]);

    h.manifest('/manifest.yaml', []);
    await killAt('old-moved-aside');
    await restartWithManifestDown();
    await expectConsistent([d1, undefined]);
    await h.reconciler().reconcile();
    await expectConsistent([undefined]);
  });
});
