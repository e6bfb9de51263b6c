import type { z } from 'zod';
import { BUILTIN_PROFILES, isBuiltinProfileName } from './builtins.js';
import { DECLARATION_KINDS, isDeclarationKind, isValidReference } from './declarations.js';
import { canonicalJson, computeBundleDigest } from './digest.js';
import { ConfigBundleError } from './errors.js';
import { assertNoForbiddenContent, formatFieldPath } from './forbidden-content.js';
import { assertPlainJson, parseJsonSafely, utf8ByteLength } from './json-safety.js';
import { BundleLimits } from './limits.js';
import { ConfigBundle, isValidIdentifier } from './schema.js';
import { secretEnvVarName } from './secrets.js';

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A zod issue as a message that names the field and rule but never a caller-chosen key or value. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const field = formatFieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') return `${field}: unknown field`;
  return `${field}: ${issue.message}`;
}

function invalid(message: string, field?: string): ConfigBundleError {
  return new ConfigBundleError(
    'invalid_bundle',
    message,
    field === undefined ? undefined : { field },
  );
}

function checkSize(input: Record<string, unknown>): void {
  const { profiles, declarations } = input;
  if (Array.isArray(profiles) && profiles.length > BundleLimits.maxProfiles) {
    throw new ConfigBundleError(
      'config_bundle_too_large',
      `bundle has more than ${BundleLimits.maxProfiles} profiles`,
      { field: 'profiles' },
    );
  }
  if (Array.isArray(declarations) && declarations.length > BundleLimits.maxDeclarations) {
    throw new ConfigBundleError(
      'config_bundle_too_large',
      `bundle has more than ${BundleLimits.maxDeclarations} declarations`,
      { field: 'declarations' },
    );
  }
  if (utf8ByteLength(canonicalJson(input)) > BundleLimits.maxBytes) {
    throw new ConfigBundleError(
      'config_bundle_too_large',
      `bundle exceeds ${BundleLimits.maxBytes} bytes`,
    );
  }
}

function checkId(metadata: Record<string, unknown>): void {
  const { id } = metadata;
  if (typeof id !== 'string' || !isValidIdentifier(id)) {
    throw new ConfigBundleError(
      'invalid_bundle_id',
      `metadata.id must be 1-${BundleLimits.maxIdLength} characters of [A-Za-z0-9._:-], start with a letter or digit and contain no '..'`,
      { field: 'metadata.id' },
    );
  }
}

function checkDeclarations(declarations: unknown): void {
  if (!Array.isArray(declarations)) return;
  declarations.forEach((declaration: unknown, index) => {
    if (!isRecord(declaration)) return;
    const { kind, reference } = declaration;
    if (typeof kind !== 'string') return;
    if (!isDeclarationKind(kind)) {
      throw new ConfigBundleError(
        'unsupported_config_declaration',
        `declarations[${index}].kind is not one of ${DECLARATION_KINDS.join(', ')}`,
        { field: `declarations[${index}].kind` },
      );
    }
    if (typeof reference === 'string' && !isValidReference(kind, reference)) {
      throw new ConfigBundleError(
        'unsupported_config_declaration',
        `declarations[${index}].reference is not a valid ${kind} reference`,
        { field: `declarations[${index}].reference` },
      );
    }
  });
}

/**
 * Two `secret:` / `secret-ref:` declarations naming different secrets must not read the same
 * `RUNYARD_SECRET_*` variable (`secret:a.b`, `secret:a_b` and `secret:A_B` would): a worker granted
 * one would silently receive the other. `secret:x` and `secret-ref:x` are aliases and may coexist.
 */
function checkSecretVariables(bundle: ConfigBundle): void {
  const seen = new Map<string, string>();
  bundle.declarations.forEach((declaration, index) => {
    if (declaration.kind !== 'secret_ref') return;
    const variable = secretEnvVarName(declaration.reference);
    if (variable === undefined) return;
    const token = declaration.reference.slice(declaration.reference.indexOf(':') + 1);
    const earlier = seen.get(variable);
    if (earlier !== undefined && earlier !== token) {
      throw invalid(
        `declarations[${index}].reference names a different secret than an earlier declaration but maps to the same environment variable ${variable}`,
        `declarations[${index}].reference`,
      );
    }
    seen.set(variable, token);
  });
}

function checkReferences(bundle: ConfigBundle): void {
  const names = new Set<string>();
  bundle.declarations.forEach((declaration, index) => {
    if (names.has(declaration.name)) {
      throw invalid(
        `declarations[${index}].name duplicates an earlier declaration`,
        `declarations[${index}].name`,
      );
    }
    names.add(declaration.name);
  });
  checkSecretVariables(bundle);
  const selectors = new Set<string>();
  bundle.profiles.forEach((profile, index) => {
    const { kind, value } = profile.selector;
    const key = `${kind}\u0000${value}`;
    if (selectors.has(key)) {
      throw invalid(
        `profiles[${index}].selector duplicates an earlier profile`,
        `profiles[${index}].selector`,
      );
    }
    selectors.add(key);
    if (kind === 'builtin') {
      if (!isBuiltinProfileName(value)) {
        throw invalid(
          `profiles[${index}].selector names no builtin profile (${Object.keys(BUILTIN_PROFILES).join(', ')})`,
          `profiles[${index}].selector.value`,
        );
      }
      const builtin = BUILTIN_PROFILES[value];
      if (profile.worker.kind !== 'kernel' || profile.worker.runtime !== builtin.runtime) {
        throw invalid(
          `profiles[${index}].worker must be a ${builtin.runtime} kernel for builtin ${value}`,
          `profiles[${index}].worker`,
        );
      }
    }
    const granted = new Set<string>();
    profile.grants.forEach((grant, grantIndex) => {
      const field = `profiles[${index}].grants[${grantIndex}]`;
      if (!names.has(grant)) throw invalid(`${field} names no declaration`, field);
      if (granted.has(grant)) throw invalid(`${field} repeats a grant`, field);
      granted.add(grant);
    });
  });
}

function checkDigest(bundle: Record<string, unknown>, metadata: Record<string, unknown>): void {
  const { digest } = metadata;
  if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) {
    throw new ConfigBundleError(
      'config_bundle_digest_mismatch',
      'metadata.digest must be 64 lowercase hex characters',
      { field: 'metadata.digest' },
    );
  }
  if (computeBundleDigest(bundle) !== digest) {
    throw new ConfigBundleError(
      'config_bundle_digest_mismatch',
      'metadata.digest does not match the bundle content',
      { field: 'metadata.digest' },
    );
  }
}

/**
 * Validates an untrusted bundle value and returns it typed. Checks run cheapest and most
 * specific first, so each failure carries its own code:
 * plain-JSON structure and size (`invalid_bundle`, `config_bundle_too_large`) → id
 * (`invalid_bundle_id`) → forbidden content (`config_bundle_forbidden_content`) → declaration
 * kinds and references (`unsupported_config_declaration`) → shape, duplicates and grants
 * (`invalid_bundle`) → digest (`config_bundle_digest_mismatch`).
 */
export function validateBundle(input: unknown): ConfigBundle {
  assertPlainJson(input);
  if (!isRecord(input)) throw invalid('bundle must be a JSON object');
  checkSize(input);
  const { metadata } = input;
  if (!isRecord(metadata)) throw invalid('metadata must be an object', 'metadata');
  checkId(metadata);
  assertNoForbiddenContent(input);
  checkDeclarations(input.declarations);
  const parsed = ConfigBundle.safeParse(input);
  if (!parsed.success) {
    const issue =
      parsed.error.issues.find(
        (candidate) => formatFieldPath(candidate.path) !== 'metadata.digest',
      ) ?? parsed.error.issues[0]!;
    if (formatFieldPath(issue.path) === 'metadata.digest') checkDigest(input, metadata);
    throw invalid(describeIssue(issue), formatFieldPath(issue.path));
  }
  checkReferences(parsed.data);
  checkDigest(input, metadata);
  return parsed.data;
}

/**
 * Parses and validates raw bundle JSON from an untrusted source: the size limit is enforced
 * before parsing, and duplicate keys, prototype keys and deep nesting are refused.
 */
export function parseBundleJson(text: string | Uint8Array): ConfigBundle {
  return validateBundle(parseJsonSafely(text));
}
