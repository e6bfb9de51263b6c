import { z } from 'zod';
import { EnvDetectionError } from './errors.js';
import { type Notebook, parseNotebook } from './notebook.js';

export const RuntimeKindSchema = z.enum(['python', 'deno']);
export type RuntimeKind = z.infer<typeof RuntimeKindSchema>;

/** Which detection rule decided the runtime, in the order the rules are checked. */
export const RuntimeReasonSchema = z.enum([
  'kernelspec_name',
  'kernelspec_language',
  'language_info',
  'runt_deno',
  'default',
]);
export type RuntimeReason = z.infer<typeof RuntimeReasonSchema>;

export const RuntimeDetectionSchema = z.object({
  runtime: RuntimeKindSchema,
  reason: RuntimeReasonSchema,
  /** Human-readable account of the decision, e.g. `kernelspec.name "deno" contains "deno"`. */
  detail: z.string(),
});
export type RuntimeDetection = z.infer<typeof RuntimeDetectionSchema>;

export interface DetectRuntimeOptions {
  /** The user's setting, used when the notebook says nothing. Defaults to `python`. */
  defaultRuntime?: RuntimeKind;
}

const DENO_LANGUAGES = new Set(['typescript', 'javascript']);
// Some older kernels spell the language `python3`; it is still Python, not an unknown language.
const PYTHON_LANGUAGE = /^python[23]?$/;

/**
 * Kernel names of languages Runyard does not run. A kernelspec name is free-form (conda
 * kernels are called e.g. `conda-env-foo-py`), so an unknown name alone is not an error; only
 * names that clearly belong to another language are, so such a notebook never silently gets
 * a Python kernel.
 */
const UNSUPPORTED_KERNEL_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/^(ir|r|ark)$|^r[-_]|[-_]r$|rkernel/, 'R'],
  [/julia/, 'Julia'],
  [/scala|almond|spylon/, 'Scala'],
  [/evcxr|^rust/, 'Rust'],
  [/xcpp|cling|^c\+\+/, 'C++'],
  [/gophernotes|gonb|^go$/, 'Go'],
  [/ijava|^java$|kotlin/, 'Java/Kotlin'],
  [/^bash$|^sh$|zsh|powershell/, 'shell'],
  [/octave|matlab|^sas$|stata|^sql/, 'a non-Python language'],
  [/haskell|ocaml|ruby|^perl|^lua|dotnet|csharp|fsharp/, 'a non-Python language'],
];

/** Keeps a notebook-supplied name safe and short enough to appear in an error message. */
function quote(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 64 ? `${clean.slice(0, 64)}...` : clean);
}

function unsupported(field: string, value: string, language?: string): EnvDetectionError {
  const what = language ? ` (${language})` : '';
  return new EnvDetectionError(
    'unsupported_runtime',
    `notebook ${field} ${quote(value)}${what} names a language Runyard does not run; supported runtimes are python and deno`,
    { details: { language: JSON.parse(quote(value)) as string } },
  );
}

/**
 * Decides which runtime a notebook needs. Rules, checked in order and case-insensitively:
 * 1. `kernelspec.name` equals or contains `deno` → deno;
 * 2. `kernelspec.name` contains `python` → python;
 * 3. `kernelspec.language` is `typescript`/`javascript` → deno, `python` → python;
 * 4. `language_info.name` is `typescript`/`javascript`/`deno` → deno, `python` → python;
 * 5. `metadata.runt.deno` is an object (nteract's marker for Deno notebooks without a
 *    kernelspec) → deno;
 * 6. `defaultRuntime`.
 * Any other non-empty `kernelspec.language` or `language_info.name` (R, Julia, ...), or, when
 * no language is stated, a kernel name of another language (`ir`, `julia-1.10`, ...), throws
 * `unsupported_runtime` instead of falling through to the default.
 */
export function detectRuntime(
  notebook: Notebook | unknown,
  options: DetectRuntimeOptions = {},
): RuntimeDetection {
  const { metadata } = parseNotebook(notebook);
  const kernelName = metadata.kernelspec?.name?.trim().toLowerCase() ?? '';
  const kernelLanguage = metadata.kernelspec?.language?.trim().toLowerCase() ?? '';
  const infoName = metadata.language_info?.name?.trim().toLowerCase() ?? '';

  if (kernelName.includes('deno')) {
    return {
      runtime: 'deno',
      reason: 'kernelspec_name',
      detail: `kernelspec.name ${quote(kernelName)} contains "deno"`,
    };
  }
  if (kernelName.includes('python')) {
    return {
      runtime: 'python',
      reason: 'kernelspec_name',
      detail: `kernelspec.name ${quote(kernelName)} contains "python"`,
    };
  }
  if (kernelLanguage !== '') {
    if (DENO_LANGUAGES.has(kernelLanguage)) {
      return {
        runtime: 'deno',
        reason: 'kernelspec_language',
        detail: `kernelspec.language is ${quote(kernelLanguage)}`,
      };
    }
    if (PYTHON_LANGUAGE.test(kernelLanguage)) {
      return {
        runtime: 'python',
        reason: 'kernelspec_language',
        detail: `kernelspec.language is ${quote(kernelLanguage)}`,
      };
    }
    throw unsupported('kernelspec.language', kernelLanguage);
  }

  if (infoName !== '') {
    if (DENO_LANGUAGES.has(infoName) || infoName === 'deno') {
      return {
        runtime: 'deno',
        reason: 'language_info',
        detail: `language_info.name is ${quote(infoName)}`,
      };
    }
    if (PYTHON_LANGUAGE.test(infoName)) {
      return {
        runtime: 'python',
        reason: 'language_info',
        detail: `language_info.name is ${quote(infoName)}`,
      };
    }
    throw unsupported('language_info.name', infoName);
  }

  // Only now, with no language stated anywhere, is a kernel name of another language decisive.
  for (const [pattern, language] of UNSUPPORTED_KERNEL_NAMES) {
    if (pattern.test(kernelName)) throw unsupported('kernelspec.name', kernelName, language);
  }

  // nteract marks Deno notebooks written without a kernelspec with a `runt.deno` section.
  const denoSection = metadata.runt?.deno;
  if (typeof denoSection === 'object' && denoSection !== null && !Array.isArray(denoSection)) {
    return {
      runtime: 'deno',
      reason: 'runt_deno',
      detail: 'the notebook names no language but has a metadata.runt.deno section',
    };
  }

  const runtime = options.defaultRuntime ?? 'python';
  return {
    runtime,
    reason: 'default',
    detail: `the notebook names no runtime; using the default (${runtime})`,
  };
}
