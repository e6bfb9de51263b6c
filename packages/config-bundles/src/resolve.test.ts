import { describe, expect, it } from 'vitest';
import { resolveWorkerSpec } from './resolve.js';
import { ResolvedWorkerSpec } from './schema.js';
import { clone, sampleBundle } from './test-support/bundles.js';
import { expectCode } from './test-support/expect-code.js';

const bundle = sampleBundle();
const ref = { id: bundle.metadata.id, digest: bundle.metadata.digest };

describe('resolveWorkerSpec without a bundle', () => {
  it.each([
    ['python-kernel', 'python'],
    ['deno-kernel', 'deno'],
  ] as const)('resolves builtin %s in builtin mode with no grants', (value, runtime) => {
    const spec = resolveWorkerSpec({
      request: { workerId: 'w-1', profile: { kind: 'builtin', value } },
    });
    expect(spec).toEqual({
      mode: 'builtin',
      workerId: 'w-1',
      profile: { kind: 'builtin', value },
      worker: { kind: 'kernel', runtime },
      grants: { secrets: [], mounts: [], network: [], shell: [], git: [], capabilities: [] },
    });
    expect(ResolvedWorkerSpec.parse(spec)).toEqual(spec);
  });

  it('requires a bundle for a named profile', () => {
    expectCode(
      () => resolveWorkerSpec({ request: { profile: { kind: 'named', value: 'reviewer' } } }),
      'config_bundle_required',
    );
  });

  it('refuses an unknown builtin', () => {
    const error = expectCode(
      () => resolveWorkerSpec({ request: { profile: { kind: 'builtin', value: 'ruby-kernel' } } }),
      'invalid_profile_selector',
    );
    expect(error.message).toContain('python-kernel');
  });

  it('refuses a malformed selector as invalid_profile_selector', () => {
    for (const profile of [
      { kind: 'custom', value: 'x' },
      { kind: 'named', value: '../x' },
      { kind: 'named', value: 'a/b?c' },
      { kind: 'named' },
      'python-kernel',
    ]) {
      expectCode(() => resolveWorkerSpec({ request: { profile } }), 'invalid_profile_selector');
    }
  });

  it('refuses other malformed requests as invalid_worker_request', () => {
    for (const request of [
      null,
      { profile: { kind: 'builtin', value: 'python-kernel' }, extra: true },
      { profile: { kind: 'builtin', value: 'python-kernel' }, workerId: 'a b' },
      { profile: { kind: 'builtin', value: 'python-kernel' }, configBundle: { id: 'x' } },
    ]) {
      const error = expectCode(() => resolveWorkerSpec({ request }), 'invalid_worker_request');
      expect(error.message).not.toContain('extra');
    }
  });

  it('refuses any requested capability in builtin mode', () => {
    expectCode(
      () =>
        resolveWorkerSpec({
          request: {
            profile: { kind: 'builtin', value: 'deno-kernel' },
            requestedCapabilities: ['gpu'],
          },
        }),
      'capability_not_granted',
    );
  });

  it('reports a referenced bundle that was not supplied as missing', () => {
    expectCode(
      () =>
        resolveWorkerSpec({
          request: { profile: { kind: 'named', value: 'reviewer' }, configBundle: ref },
        }),
      'config_bundle_missing',
    );
  });
});

describe('resolveWorkerSpec with a bundle', () => {
  it('resolves a named profile to references only', () => {
    const spec = resolveWorkerSpec({
      request: {
        profile: { kind: 'named', value: 'reviewer' },
        configBundle: ref,
        requestedCapabilities: ['gpu', 'capability:gpu'],
      },
      bundle: clone(bundle),
    });
    expect(spec).toEqual({
      mode: 'bundle',
      profile: { kind: 'named', value: 'reviewer' },
      label: 'Code reviewer',
      worker: {
        kind: 'command',
        argv: ['node', 'agent.js', '--mode=review'],
        cwd: 'agents/review',
      },
      configBundle: ref,
      grants: {
        secrets: [{ name: 'github', reference: 'secret:github_token' }],
        mounts: [{ name: 'data', reference: 'mount:workspace-data' }],
        network: [{ name: 'egress', reference: 'network:github-only' }],
        shell: [],
        git: [],
        capabilities: [{ name: 'gpu', reference: 'capability:gpu' }],
      },
    });
    expect(ResolvedWorkerSpec.parse(spec)).toEqual(spec);
  });

  it('uses the bundle grants for a builtin the bundle declares', () => {
    const spec = resolveWorkerSpec({
      request: { profile: { kind: 'builtin', value: 'python-kernel' }, configBundle: ref },
      bundle,
    });
    expect(spec.mode).toBe('bundle');
    expect(spec.grants.mounts).toEqual([{ name: 'data', reference: 'mount:workspace-data' }]);
  });

  it('falls back to builtin mode for a builtin the bundle does not declare', () => {
    const spec = resolveWorkerSpec({
      request: { profile: { kind: 'builtin', value: 'deno-kernel' }, configBundle: ref },
      bundle,
    });
    expect(spec.mode).toBe('builtin');
    expect(spec.configBundle).toBeUndefined();
    expect(spec.grants.mounts).toEqual([]);
  });

  it('refuses a selector the bundle does not declare', () => {
    expectCode(
      () =>
        resolveWorkerSpec({
          request: { profile: { kind: 'named', value: 'deployer' }, configBundle: ref },
          bundle,
        }),
      'invalid_profile_selector',
    );
  });

  it('refuses a capability the profile is not granted', () => {
    const error = expectCode(
      () =>
        resolveWorkerSpec({
          request: {
            profile: { kind: 'named', value: 'reviewer' },
            configBundle: ref,
            requestedCapabilities: ['gpu', 'root'],
          },
          bundle,
        }),
      'capability_not_granted',
    );
    expect(error.field).toBe('requestedCapabilities[1]');
    // A python-kernel override in the bundle does not grant gpu either.
    expectCode(
      () =>
        resolveWorkerSpec({
          request: {
            profile: { kind: 'builtin', value: 'python-kernel' },
            configBundle: ref,
            requestedCapabilities: ['gpu'],
          },
          bundle,
        }),
      'capability_not_granted',
    );
  });

  it('refuses a bundle that is not the one the request pins', () => {
    const other = sampleBundle((b) => {
      b.metadata.revision = 9;
    });
    expectCode(
      () =>
        resolveWorkerSpec({
          request: { profile: { kind: 'named', value: 'reviewer' }, configBundle: ref },
          bundle: other,
        }),
      'config_bundle_digest_mismatch',
    );
    const renamed = sampleBundle((b) => {
      b.metadata.id = 'other';
    });
    expectCode(
      () =>
        resolveWorkerSpec({
          request: { profile: { kind: 'named', value: 'reviewer' }, configBundle: ref },
          bundle: renamed,
        }),
      'config_bundle_missing',
    );
  });

  it('re-validates the supplied bundle', () => {
    const tampered = clone(bundle);
    tampered.declarations[0]!.reference = 'secret:other';
    expectCode(
      () =>
        resolveWorkerSpec({
          request: { profile: { kind: 'named', value: 'reviewer' }, configBundle: ref },
          bundle: tampered,
        }),
      'config_bundle_digest_mismatch',
    );
  });

  it('uses a bundle passed without a reference in the request', () => {
    const spec = resolveWorkerSpec({
      request: { profile: { kind: 'named', value: 'reviewer' } },
      bundle,
    });
    expect(spec.configBundle).toEqual(ref);
  });
});
