import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '@runyard/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReconcilerEvent } from './reconciler.js';
import { code, codeOf } from './test-support/codes.js';
import { createHarness, type Harness } from './test-support/harness.js';
import { body } from './test-support/server.js';
import { skillArchive } from './test-support/tar-builder.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

function manifestRequests(): number {
  return h.server.requests.filter((r) => r.path === '/manifest.yaml').length;
}

describe('lifecycle', () => {
  it('runs the first pass at start, then every interval with ±10% jitter', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    let random = 0.5;
    const reconciler = h.reconciler({ random: () => random });
    const events: ReconcilerEvent[] = [];
    reconciler.on((event) => events.push(event));
    await reconciler.start();
    expect(reconciler.isRunning()).toBe(true);
    expect(existsSync(join(h.userRoot, 'a', 'SKILL.md'))).toBe(true);
    expect(h.scheduler.delays()).toEqual([DAY]);
    const status = reconciler.status();
    expect(status.lastPass).toMatchObject({
      trigger: 'start',
      added: 1,
      updated: 0,
      removed: 0,
      errors: [],
    });
    expect(status.nextPassAt).toBe(new Date(h.scheduler.now() + DAY).toISOString());
    expect(status.policy).toBe('user-choice');
    expect(events.map((e) => e.type)).toEqual(['pass_started', 'pass_finished']);

    random = 0;
    h.scheduler.fireNext();
    await until(() => events.length === 4);
    expect(h.scheduler.delays()).toEqual([0.9 * DAY]);
    random = 0.999_999;
    h.scheduler.fireNext();
    await until(() => events.length === 6);
    const [delay] = h.scheduler.delays();
    expect(delay).toBeGreaterThan(1.09 * DAY);
    expect(delay).toBeLessThanOrEqual(1.1 * DAY);
  });

  it('backs off exponentially from 1 minute up to the interval on failures, then recovers', async () => {
    h.server.routes.set('/manifest.yaml', body('down', {}, 503));
    const reconciler = h.reconciler({ intervalMs: 10 * 60_000 });
    await reconciler.start();
    const delays = [h.scheduler.delays()[0]];
    for (let i = 0; i < 5; i++) {
      const before = manifestRequests();
      h.scheduler.fireNext();
      await until(() => manifestRequests() > before && h.scheduler.pending.size === 1);
      delays.push(h.scheduler.delays()[0]);
    }
    expect(delays).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
    expect(reconciler.status().lastPass?.errors.map((e) => e.code)).toEqual([
      'manifest_fetch_failed',
    ]);

    h.manifest('/manifest.yaml', []);
    h.scheduler.fireNext();
    await until(() => reconciler.status().lastPass?.errors.length === 0);
    expect(h.scheduler.delays()).toEqual([600_000]);
  });

  it('force-off set mid-loop stops before the next pass, for good', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    const reconciler = h.reconciler();
    const events: ReconcilerEvent[] = [];
    reconciler.on((event) => events.push(event));
    await reconciler.start();
    const requests = manifestRequests();

    h.env.RUNYARD_SKILLS_POLICY = '  Force-Off ';
    h.scheduler.fireNext();
    await until(() => events.some((e) => e.type === 'stopped'));
    expect(manifestRequests()).toBe(requests);
    expect(events.filter((e) => e.type === 'pass_started')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'stopped', reason: 'policy', wasRunning: true });
    expect(reconciler.isRunning()).toBe(false);
    expect(h.scheduler.pending.size).toBe(0);
    expect(reconciler.status()).toMatchObject({
      policy: 'force-off',
      running: false,
      stopped: true,
      nextPassAt: null,
    });

    // Flipping the variable back does not resurrect it.
    h.env.RUNYARD_SKILLS_POLICY = 'force-on';
    expect(code(() => reconciler.start())).toBe('reconciler_stopped');
    expect(await codeOf(reconciler.reconcile())).toBe('reconciler_stopped');
    // force-off removes nothing: installed skills stay.
    expect(existsSync(join(h.userRoot, 'a', 'SKILL.md'))).toBe(true);
  });

  it('fails closed on an unrecognised policy value and resumes when it is fixed', async () => {
    h.manifest('/manifest.yaml', []);
    h.env.RUNYARD_SKILLS_POLICY = 'force_off';
    const reconciler = h.reconciler();
    const events: ReconcilerEvent[] = [];
    reconciler.on((event) => events.push(event));
    await reconciler.start();
    expect(manifestRequests()).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['pass_skipped']);
    expect(reconciler.status()).toMatchObject({
      policy: null,
      policyError: { code: 'policy_invalid' },
      running: true,
    });
    expect(await codeOf(reconciler.reconcile())).toBe('policy_invalid');
    expect(await codeOf(reconciler.plan())).toBe('policy_invalid');

    h.scheduler.fireNext();
    await until(() => events.length === 2);
    expect(manifestRequests()).toBe(0);

    h.env.RUNYARD_SKILLS_POLICY = 'FORCE-ON';
    h.scheduler.fireNext();
    await until(() => events.some((e) => e.type === 'pass_finished'));
    expect(manifestRequests()).toBe(1);
    expect(reconciler.status().policyError).toBeUndefined();
  });

  it('skips passes when the user turned managed skills off under user-choice, not under force-on', async () => {
    h.manifest('/manifest.yaml', []);
    const off = h.reconciler({ userEnabled: false });
    await expect(off.reconcile()).rejects.toMatchObject({ code: 'policy_disabled' });
    await off.start();
    expect(manifestRequests()).toBe(0);
    const forced = h.reconciler({ userEnabled: false, policy: 'force-on' });
    await forced.reconcile();
    expect(manifestRequests()).toBe(1);
  });

  it('force-off at start stops before the first pass', async () => {
    h.manifest('/manifest.yaml', []);
    h.env.RUNYARD_SKILLS_POLICY = 'force-off';
    const reconciler = h.reconciler({ policy: 'force-on' });
    await reconciler.start();
    expect(manifestRequests()).toBe(0);
    expect(reconciler.isRunning()).toBe(false);
    expect(reconciler.status().stopped).toBe(true);
  });

  it('a throwing user callback or logger never becomes an unhandled rejection; status reports it', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      h.manifest('/manifest.yaml', []);
      let calls = 0;
      const throwing = () => {
        throw new Error('user callback exploded /secret/path');
      };
      const reconciler = h.reconciler({
        userEnabled: () => {
          calls++;
          if (calls === 2) throwing();
          return true;
        },
        logger: { info: throwing, warn: throwing, error: throwing },
      });
      await reconciler.start();
      expect(reconciler.status().lastPass?.errors).toEqual([]);

      // The scheduled cycle: userEnabled throws (and so does the logger reporting it).
      h.scheduler.fireNext();
      await until(() => reconciler.status().loopError !== undefined);
      expect(reconciler.status().loopError).toMatchObject({ code: 'reconciler_failed' });
      expect(JSON.stringify(reconciler.status())).not.toContain('/secret/path');
      expect(h.scheduler.pending.size).toBe(1);

      // A pass whose errors the (throwing) logger warns about still completes and is recorded.
      h.server.routes.set('/manifest.yaml', body('down', {}, 503));
      h.scheduler.fireNext();
      await until(() => (reconciler.status().lastPass?.errors.length ?? 0) > 0);
      expect(reconciler.status().loopError).toBeUndefined();
      expect(reconciler.status().lastPass?.errors.map((e) => e.code)).toEqual([
        'manifest_fetch_failed',
      ]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('stop() is idempotent, reports wasRunning and is latched', async () => {
    h.manifest('/manifest.yaml', []);
    const never = h.reconciler();
    expect(await never.stop()).toEqual({ stopped: true, wasRunning: false });
    expect(code(() => never.start())).toBe('reconciler_stopped');

    const reconciler = h.reconciler();
    await reconciler.start();
    expect(await reconciler.stop()).toEqual({ stopped: true, wasRunning: true });
    expect(await reconciler.stop()).toEqual({ stopped: true, wasRunning: false });
    expect(reconciler.isRunning()).toBe(false);
    expect(h.scheduler.pending.size).toBe(0);
    expect(code(() => reconciler.start())).toBe('reconciler_stopped');
    expect(await codeOf(reconciler.plan())).toBe('reconciler_stopped');
  });

  it('stop during a slow download aborts without leaving a partial skill (old one intact)', async () => {
    h.manifest('/manifest.yaml', [
      { name: 'a', source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    const reconciler = h.reconciler();
    await reconciler.start();
    const v1 = h.read('a');

    const v2 = skillArchive('a', { version: 'v2' });
    let started = false;
    h.server.routes.set('/a.tgz', (_req, res) => {
      started = true;
      res.writeHead(200, { 'content-length': String(v2.byteLength) });
      res.write(v2.subarray(0, 10)); // ...and never the rest
    });
    const events: ReconcilerEvent[] = [];
    reconciler.on((event) => events.push(event));
    const pass = reconciler.reconcile();
    await until(() => started);
    const result = await reconciler.stop();
    expect(result).toEqual({ stopped: true, wasRunning: true });
    const report = await pass;
    expect(report.aborted).toBe(true);
    expect(report.errors.map((e) => e.code)).toEqual(['aborted']);
    expect(h.read('a')).toBe(v1);
    expect(readdirSync(h.userRoot).filter((n) => n.startsWith('.runyard-staging'))).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['pass_started', 'pass_finished', 'stopped']);
  });

  it('stop during a slow first install leaves no folder at all', async () => {
    let started = false;
    h.server.routes.set('/slow.tgz', (_req, res) => {
      started = true;
      res.writeHead(200);
      res.write(Buffer.alloc(100));
    });
    h.manifest('/manifest.yaml', [
      { name: 'slow', source: { type: 'tarball', url: `${h.server.url}/slow.tgz` } },
    ]);
    const reconciler = h.reconciler();
    const first = reconciler.start();
    await until(() => started);
    await reconciler.stop();
    await first;
    expect(existsSync(join(h.userRoot, 'slow'))).toBe(false);
    expect(existsSync(h.userRoot) ? readdirSync(h.userRoot) : []).toEqual([]);
  });

  it('never overlaps a manual pass with a scheduled pass', async () => {
    h.manifest('/manifest.yaml', [
      { source: { type: 'tarball', url: h.archive('/a.tgz', skillArchive('a')) } },
    ]);
    const reconciler = h.reconciler();
    await reconciler.start();

    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inFlight = 0;
    let maxInFlight = 0;
    const yaml = `version: 1\nskills:\n  - source: { type: tarball, url: "${h.server.url}/a.tgz" }\n`;
    h.server.routes.set('/manifest.yaml', (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      void gate.then(() => {
        inFlight--;
        res.writeHead(200);
        res.end(yaml);
      });
    });
    const events: string[] = [];
    reconciler.on((event) => {
      if (event.type === 'pass_started' || event.type === 'pass_finished')
        events.push(`${event.type}:${event.trigger}`);
    });
    const before = manifestRequests();
    h.scheduler.fireNext();
    await until(() => manifestRequests() === before + 1);
    const manual = reconciler.reconcile();
    const manual2 = reconciler.reconcile();
    release();
    const [r1, r2] = await Promise.all([manual, manual2]);
    await until(() => events.length === 6);
    expect(maxInFlight).toBe(1);
    expect(events).toEqual([
      'pass_started:scheduled',
      'pass_finished:scheduled',
      'pass_started:manual',
      'pass_finished:manual',
      'pass_started:manual',
      'pass_finished:manual',
    ]);
    expect(r1.errors).toEqual([]);
    expect(r2.unchanged.map((i) => i.name)).toEqual(['a']);
  });
});
