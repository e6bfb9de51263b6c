import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KILL_SWITCH_PATH } from './routes/skills.js';
import { errorCode, type Harness, startHarness, tempDir } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const stop = (harness: Harness) => harness.api(KILL_SWITCH_PATH, { method: 'POST' });

describe('skills policy and the kill switch', () => {
  it('under force-off: the kill switch answers 200 while reconcile answers 403', async () => {
    h = await startHarness({ env: { RUNYARD_SKILLS_POLICY: 'force-off' } });
    const refused = await h.api('/api/skills/reconcile', { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(await errorCode(refused)).toBe('skills_policy_force_off');
    const dry = await h.api('/api/skills/reconcile?dryRun=true', { method: 'POST' });
    expect(dry.status).toBe(403);

    const first = await stop(h);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ stopped: true, wasRunning: false });
    const again = await stop(h);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ stopped: true, wasRunning: false });
  });

  it('the kill switch works even when the policy value is invalid (fails closed elsewhere)', async () => {
    h = await startHarness({ overrides: { skillsPolicy: 'force_of' } });
    const refused = await h.api('/api/skills/reconcile', { method: 'POST' });
    expect(refused.status).toBe(500);
    expect(await errorCode(refused)).toBe('policy_invalid');
    const response = await stop(h);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ stopped: true, wasRunning: false });
  });

  it('stops a running reconciler: wasRunning true, then false; reconcile is refused after', async () => {
    const dir = tempDir();
    const manifest = join(dir, 'manifest.yaml');
    writeFileSync(manifest, 'version: 1\nskills: []\n');
    h = await startHarness({ overrides: { skillsManifests: [manifest] } });
    const cleanup = () => rmSync(dir, { recursive: true, force: true });
    const status = (await (await h.api('/api/skills/reconciler')).json()) as {
      running: boolean;
      configured: boolean;
    };
    expect(status).toMatchObject({ running: true, configured: true });
    const plan = await h.api('/api/skills/reconcile?dryRun=true', { method: 'POST' });
    expect(plan.status).toBe(200);
    expect(await plan.json()).toMatchObject({ install: [], manifestsComplete: true });

    expect(await (await stop(h)).json()).toEqual({ stopped: true, wasRunning: true });
    expect(await (await stop(h)).json()).toEqual({ stopped: true, wasRunning: false });
    const after = await h.api('/api/skills/reconcile', { method: 'POST' });
    expect(after.status).toBe(409);
    expect(await errorCode(after)).toBe('reconciler_stopped');
    cleanup();
  });
});
