import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BundleLimits,
  ConfigBundleError,
  computeBundleDigest,
  parseBundleJson,
  parseJsonSafely,
} from '@runyard/config-bundles';
import {
  type CliIo,
  ExitCode,
  parseCommand,
  printHelp,
  printJson,
  println,
  UsageError,
} from './common.js';

export const BUNDLE_HELP = `Usage: runyard bundle digest <file>
       runyard bundle validate <file> [--json]

digest    prints the bundle's content digest (SHA-256 of its RFC 8785 canonical JSON without
          metadata.digest), whether or not the bundle is otherwise valid
validate  checks a bundle (shape, ids, declarations, forbidden content, digest); exit 1 if invalid`;

function readBundleText(path: string): string {
  // Refuse before reading: a huge file must not be loaded to learn it is too big.
  const size = statSync(path).size;
  const max = BundleLimits.maxBytes;
  if (size > max) {
    throw new ConfigBundleError(
      'config_bundle_too_large',
      `the bundle is larger than ${max} bytes`,
    );
  }
  return readFileSync(path, 'utf8');
}

export interface BundleValidation {
  valid: boolean;
  digest: string | null;
  errors: { code: string; path: string | null; message: string }[];
}

export function validateBundleText(text: string): BundleValidation {
  let digest: string | null = null;
  try {
    digest = computeBundleDigest(parseJsonSafely(text) as Record<string, unknown>);
  } catch {
    // Not JSON or not an object: no digest to show; validation below says why.
  }
  try {
    parseBundleJson(text);
    return { valid: true, digest, errors: [] };
  } catch (error) {
    if (!(error instanceof ConfigBundleError)) throw error;
    return {
      valid: false,
      digest,
      errors: [{ code: error.code, path: error.field ?? null, message: error.message }],
    };
  }
}

export async function bundleCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(io, args, { json: { type: 'boolean' } });
  const [sub, file, ...extra] = positionals;
  if (values.help || sub === undefined) return printHelp(io, BUNDLE_HELP, Boolean(values.help));
  if (!file || extra.length > 0) throw new UsageError(`bundle ${sub} takes exactly one file`);
  const path = resolve(io.cwd, file);
  if (sub === 'digest') {
    const text = readBundleText(path);
    const digest = computeBundleDigest(parseJsonSafely(text) as Record<string, unknown>);
    if (values.json) printJson(io, { digest });
    else println(io.stdout, digest);
    return ExitCode.ok;
  }
  if (sub === 'validate') {
    let result: BundleValidation;
    try {
      result = validateBundleText(readBundleText(path));
    } catch (error) {
      if (!(error instanceof ConfigBundleError)) throw error;
      result = {
        valid: false,
        digest: null,
        errors: [{ code: error.code, path: error.field ?? null, message: error.message }],
      };
    }
    if (values.json) printJson(io, result);
    else if (result.valid) println(io.stdout, `valid (digest ${result.digest})`);
    else
      for (const error of result.errors)
        println(
          io.stdout,
          `invalid: ${error.code}${error.path ? ` at ${error.path}` : ''}: ${error.message}`,
        );
    return result.valid ? ExitCode.ok : ExitCode.failure;
  }
  throw new UsageError(`unknown bundle command: ${sub}`);
}
