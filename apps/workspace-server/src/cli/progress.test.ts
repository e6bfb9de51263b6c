import { PassThrough } from 'node:stream';
import type { RuntimeInfo } from '@runyard/runtime-registry';
import { describe, expect, it } from 'vitest';
import { EventHub } from '../events/hub.js';
import { createLogger } from '../logger.js';
import { createProgress, renderBar, showRuntimeProgress } from './progress.js';

function capture(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { stream, text: () => text };
}

const info = (lifecycle: RuntimeInfo['lifecycle']): RuntimeInfo => ({
  notebookId: 'nb1',
  path: 'a.ipynb',
  runtime: 'python',
  lifecycle,
  kernelStatus: null,
  envSource: 'uv:inline',
  envHash: null,
  trust: { status: 'trusted', needsApproval: false, untrusted: [], warnings: [], fingerprint: 'f' },
});

describe('progress', () => {
  it('renders bars clamped to 0..100%', () => {
    expect(renderBar(0.5)).toContain(' 50%');
    expect(renderBar(2)).toContain('100%');
    expect(renderBar(-1)).toContain('  0%');
  });

  it('draws env-build bars and a kernel-start spinner on a TTY', () => {
    const out = capture(true);
    const hub = new EventHub();
    const off = showRuntimeProgress(hub, createProgress(out.stream));
    hub.publish({
      topic: 'lifecycle',
      runtimeId: 'local',
      event: { type: 'lifecycle', notebookId: 'nb1', info: info('preparing_env') },
    });
    hub.publish({
      topic: 'env',
      runtimeId: 'local',
      event: {
        type: 'env_progress',
        notebookId: 'nb1',
        phase: 'install',
        message: 'x',
        fraction: 0.25,
      },
    });
    hub.publish({
      topic: 'lifecycle',
      runtimeId: 'local',
      event: { type: 'lifecycle', notebookId: 'nb1', info: info('launching') },
    });
    hub.publish({
      topic: 'lifecycle',
      runtimeId: 'local',
      event: { type: 'lifecycle', notebookId: 'nb1', info: info('idle') },
    });
    off();
    expect(out.text()).toContain('building env for a.ipynb');
    expect(out.text()).toContain(' 25%');
    expect(out.text()).toContain('starting kernel for a.ipynb');
    expect(out.text()).toContain('kernel ready for a.ipynb');
  });

  it("prints why a notebook failed: the reason and the details (the tool's own words)", () => {
    const out = capture(true);
    const hub = new EventHub();
    const off = showRuntimeProgress(hub, createProgress(out.stream));
    const details =
      'pip install failed (exit code 1): ERROR: No matching distribution found for requests>=2';
    hub.publish({
      topic: 'lifecycle',
      runtimeId: 'local',
      event: {
        type: 'lifecycle',
        notebookId: 'nb1',
        info: { ...info('error'), error: { reason: 'env_build_failed', details } },
      },
    });
    off();
    expect(out.text()).toContain(`a.ipynb: env_build_failed — ${details}`);
  });

  it('writes nothing when stderr is not a TTY', () => {
    const out = capture(false);
    const hub = new EventHub();
    showRuntimeProgress(hub, createProgress(out.stream));
    hub.publish({
      topic: 'lifecycle',
      runtimeId: 'local',
      event: { type: 'lifecycle', notebookId: 'nb1', info: info('launching') },
    });
    expect(out.text()).toBe('');
  });
});

describe('logger redaction', () => {
  it('never writes the token: neither in token/authorization fields nor inside messages', async () => {
    const out = capture(false);
    const token = 'super-secret-api-token-value';
    const logger = createLogger({ level: 'info', secrets: [token], destination: out.stream });
    logger.info(
      { token, headers: { authorization: `Bearer ${token}` } },
      `got ${token} in a message`,
    );
    logger.info({ req: { headers: { authorization: `Bearer ${token}` } } }, 'request');
    await new Promise((resolve) => setImmediate(resolve));
    expect(out.text()).toContain('[REDACTED]');
    expect(out.text()).not.toContain(token);
  });
});
