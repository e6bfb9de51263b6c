import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigBundleError } from './errors.js';
import { resolveWorkerSpec } from './resolve.js';
import {
  createEnvSecretResolver,
  resolveSecretGrants,
  SecretValue,
  secretEnvVarName,
} from './secrets.js';
import { sampleBundle } from './test-support/bundles.js';
import { validateBundle } from './validate.js';

const VALUE = 'hunter2-S3cr3t-value-9f1c';

describe('secretEnvVarName', () => {
  it('maps secret: and secret-ref: references to RUNYARD_SECRET_<NAME>', () => {
    expect(secretEnvVarName('secret:github_token')).toBe('RUNYARD_SECRET_GITHUB_TOKEN');
    expect(secretEnvVarName('secret-ref:db.main-pw')).toBe('RUNYARD_SECRET_DB_MAIN_PW');
    expect(secretEnvVarName('vault:kv:x')).toBeUndefined();
    expect(secretEnvVarName('mount:x')).toBeUndefined();
    expect(secretEnvVarName('secret:')).toBeUndefined();
  });
});

describe('SecretValue', () => {
  it('never renders its value', () => {
    const secret = new SecretValue(VALUE);
    expect(secret.reveal()).toBe(VALUE);
    for (const text of [
      String(secret),
      `${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ nested: { secret } }, { depth: 5 }),
      JSON.stringify(structuredClone({ secret })),
      Object.keys(secret).join(','),
    ]) {
      expect(text).not.toContain(VALUE);
    }
  });
});

describe('createEnvSecretResolver', () => {
  const env = { RUNYARD_SECRET_GITHUB_TOKEN: VALUE, RUNYARD_SECRET_EMPTY: '' };
  const resolver = createEnvSecretResolver({ env });

  it('resolves from the injected environment', async () => {
    expect((await resolver.resolve('secret:github_token')).reveal()).toBe(VALUE);
    expect((await resolver.resolve('secret-ref:GITHUB_TOKEN')).reveal()).toBe(VALUE);
  });

  it('refuses names the variable mapping would fold together (a.b, a-b → A_B)', async () => {
    for (const reference of [
      'secret-ref:GITHUB.TOKEN',
      'secret:github-token',
      'secret:github:token',
    ]) {
      const error = await resolver.resolve(reference).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ConfigBundleError);
      expect((error as ConfigBundleError).code).toBe('secret_unavailable');
      expect((error as ConfigBundleError).message).toContain('ambiguous');
      expect((error as ConfigBundleError).message).not.toContain(VALUE);
    }
  });

  it('reports unset, empty and unsupported references without any value', async () => {
    for (const reference of ['secret:missing', 'secret:empty', 'vault:github_token', VALUE]) {
      const error = await resolver.resolve(reference).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ConfigBundleError);
      expect((error as ConfigBundleError).code).toBe('secret_unavailable');
      expect((error as ConfigBundleError).message).not.toContain(VALUE);
      expect(JSON.stringify(error)).not.toContain(VALUE);
    }
  });

  it('resolves every secret grant of a resolved spec, keyed by declaration name', async () => {
    const bundle = sampleBundle();
    const spec = resolveWorkerSpec({
      request: { profile: { kind: 'named', value: 'reviewer' } },
      bundle,
    });
    const secrets = await resolveSecretGrants(spec.grants.secrets, resolver);
    expect(secrets.get('github')?.reveal()).toBe(VALUE);
    // The spec, the bundle and anything logged about the resolution stay value-free.
    expect(JSON.stringify(spec)).not.toContain(VALUE);
    expect(JSON.stringify(bundle)).not.toContain(VALUE);
    expect(inspect(secrets)).not.toContain(VALUE);
    expect(JSON.stringify([...secrets])).not.toContain(VALUE);
  });
});

describe('a bundle that tries to carry a secret value', () => {
  it('is refused without echoing the value', () => {
    for (const smuggled of [`password=${VALUE}`, `token=${VALUE}`, `https://u:${VALUE}@h/x`]) {
      try {
        validateBundle(
          sampleBundle((b) => {
            b.profiles[1]!.label = smuggled;
          }),
        );
        expect.unreachable();
      } catch (error) {
        expect((error as ConfigBundleError).code).toBe('config_bundle_forbidden_content');
        expect(inspect(error)).not.toContain(VALUE);
        expect(JSON.stringify(error)).not.toContain(VALUE);
      }
    }
  });
});
