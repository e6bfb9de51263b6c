import { describe, expect, it } from 'vitest';
import {
  ExecuteRequestSchema,
  eventTopic,
  RuntimeEventSchema,
  RuntimeInfoSchema,
} from './index.js';

const info = {
  notebookId: 'nb-1',
  path: 'analysis/a.ipynb',
  runtime: 'python',
  lifecycle: 'awaiting_trust',
  kernelStatus: null,
  envSource: 'uv:inline',
  envHash: '0123456789abcdef',
  trust: {
    status: 'untrusted',
    needsApproval: true,
    untrusted: [{ ecosystem: 'pypi', name: 'reqeusts', spec: 'reqeusts' }],
    warnings: [{ kind: 'possible_typosquat', message: 'reqeusts looks like requests' }],
    fingerprint: 'sha256:abc',
  },
  nextAction: {
    kind: 'approve_dependencies',
    message: 'approve reqeusts',
    mcp: { tool: 'manage_dependencies', arguments: { notebook_id: 'nb-1', trust: true } },
    http: { method: 'POST', path: '/api/notebooks/nb-1/dependencies', body: { trust: true } },
  },
};

describe('contract', () => {
  it('parses a blocked notebook runtime info and keeps warning detail', () => {
    const parsed = RuntimeInfoSchema.parse(info);
    expect(parsed.nextAction?.mcp.tool).toBe('manage_dependencies');
  });

  it('refuses an unknown lifecycle and oversized code', () => {
    expect(RuntimeInfoSchema.safeParse({ ...info, lifecycle: 'running' }).success).toBe(false);
    expect(ExecuteRequestSchema.safeParse({ code: 'x'.repeat(1024 * 1024 + 1) }).success).toBe(
      false,
    );
  });

  it('maps events to topics', () => {
    const event = RuntimeEventSchema.parse({
      type: 'output',
      notebookId: 'nb-1',
      output: { output_type: 'stream', name: 'stdout', text: 'hi' },
    });
    expect(eventTopic(event)).toBe('outputs');
    expect(
      eventTopic({ type: 'lifecycle', notebookId: 'nb-1', info: RuntimeInfoSchema.parse(info) }),
    ).toBe('lifecycle');
  });
});
