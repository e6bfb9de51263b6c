import { parseReference } from './declarations.js';
import { ConfigBundleError } from './errors.js';
import type { GrantedReference } from './schema.js';

const REDACTED = '[redacted]';

/**
 * A resolved secret. The value lives in a private field and every way of turning the object
 * into text (`String()`, template literals, `JSON.stringify`, `util.inspect`, `console.log`)
 * yields `[redacted]`; only `reveal()` returns it, at the one place that hands it to a process.
 */
export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SecretValue(${REDACTED})`;
  }
}

/**
 * Turns a `secret_ref` reference (e.g. `secret:github_token`) into its value on the runtime
 * host at launch time. Implementations throw `ConfigBundleError('secret_unavailable')` with a
 * message that names the reference, never a value.
 */
export interface SecretResolver {
  resolve(reference: string): Promise<SecretValue>;
}

export const SECRET_ENV_PREFIX = 'RUNYARD_SECRET_';

/**
 * The environment variable an env resolver reads for a `secret:` / `secret-ref:` reference:
 * `RUNYARD_SECRET_` + the token upper-cased with every character outside `[A-Z0-9]` turned into
 * `_` (`secret:github.token` → `RUNYARD_SECRET_GITHUB_TOKEN`). `undefined` for other references.
 */
export function secretEnvVarName(reference: string): string | undefined {
  const parsed = parseReference('secret_ref', reference);
  if (!parsed || (parsed.prefix !== 'secret:' && parsed.prefix !== 'secret-ref:')) return undefined;
  return SECRET_ENV_PREFIX + parsed.token.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export interface EnvSecretResolverOptions {
  /** The host environment, injected (pass `process.env` in production). */
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Tokens whose variable name identifies them up to case: only letters, digits and `_`. A `.`,
 * `-`, `:`, `@` or `+` would be folded into `_`, so `a.b`, `a-b` and `a_b` would silently share a
 * variable; such tokens are refused rather than resolved to a possibly different secret.
 */
const UNAMBIGUOUS_SECRET_TOKEN = /^[A-Za-z0-9_]+$/;

/**
 * Resolves `secret:NAME` and `secret-ref:NAME` from `RUNYARD_SECRET_<NAME>`. Names are
 * case-insensitive; a name containing characters that the variable mapping folds into `_` is
 * refused (`secret_unavailable`), so one variable never answers for two different names.
 */
export function createEnvSecretResolver(options: EnvSecretResolverOptions): SecretResolver {
  const { env } = options;
  return {
    resolve(reference: string): Promise<SecretValue> {
      const variable = secretEnvVarName(reference);
      if (variable === undefined) {
        return Promise.reject(
          new ConfigBundleError(
            'secret_unavailable',
            'the environment secret resolver handles only secret: and secret-ref: references',
          ),
        );
      }
      const token = reference.slice(reference.indexOf(':') + 1);
      if (!UNAMBIGUOUS_SECRET_TOKEN.test(token)) {
        return Promise.reject(
          new ConfigBundleError(
            'secret_unavailable',
            `secret ${reference} cannot be read from the environment: its name maps to ${variable} ambiguously; use only letters, digits and _ in environment secret names`,
          ),
        );
      }
      const value = env[variable];
      if (value === undefined || value === '') {
        return Promise.reject(
          new ConfigBundleError(
            'secret_unavailable',
            `secret ${reference} is not set on this host (expected ${variable})`,
          ),
        );
      }
      return Promise.resolve(new SecretValue(value));
    },
  };
}

/**
 * Resolves every secret grant of a resolved worker spec, keyed by declaration name. Fails on
 * the first unavailable secret so a worker never starts with part of its credentials.
 */
export async function resolveSecretGrants(
  secrets: readonly GrantedReference[],
  resolver: SecretResolver,
): Promise<Map<string, SecretValue>> {
  const result = new Map<string, SecretValue>();
  for (const grant of secrets) {
    result.set(grant.name, await resolver.resolve(grant.reference));
  }
  return result;
}
