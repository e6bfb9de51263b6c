import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvDetectionError } from './errors.js';
import { detectRuntime } from './runtime.js';

const nb = (metadata: Record<string, unknown>) => ({ metadata });

describe('detectRuntime rules, in order', () => {
  it.each([
    // rule 1: kernelspec.name equals or contains deno
    ['name equals deno', { kernelspec: { name: 'deno' } }, 'deno', 'kernelspec_name'],
    ['name contains deno', { kernelspec: { name: 'my-Deno-kernel' } }, 'deno', 'kernelspec_name'],
    ['name DENO uppercase', { kernelspec: { name: 'DENO' } }, 'deno', 'kernelspec_name'],
    // rule 2: kernelspec.name contains python
    ['name python3', { kernelspec: { name: 'python3' } }, 'python', 'kernelspec_name'],
    [
      'name Python uppercase',
      { kernelspec: { name: 'Conda-Python' } },
      'python',
      'kernelspec_name',
    ],
    // rule 3: kernelspec.language
    [
      'language typescript',
      { kernelspec: { language: 'typescript' } },
      'deno',
      'kernelspec_language',
    ],
    [
      'language JavaScript',
      { kernelspec: { language: 'JavaScript' } },
      'deno',
      'kernelspec_language',
    ],
    [
      'language python',
      { kernelspec: { name: 'myenv', language: 'PYTHON' } },
      'python',
      'kernelspec_language',
    ],
    // rule 4: language_info.name
    [
      'language_info typescript',
      { language_info: { name: 'TypeScript' } },
      'deno',
      'language_info',
    ],
    [
      'language_info javascript',
      { language_info: { name: 'javascript' } },
      'deno',
      'language_info',
    ],
    ['language_info deno', { language_info: { name: 'deno' } }, 'deno', 'language_info'],
    ['language_info python', { language_info: { name: 'Python' } }, 'python', 'language_info'],
  ])('%s', (_label, metadata, runtime, reason) => {
    expect(detectRuntime(nb(metadata))).toMatchObject({ runtime, reason });
  });

  it('rule 5: falls back to the default runtime', () => {
    expect(detectRuntime(nb({}))).toMatchObject({ runtime: 'python', reason: 'default' });
    expect(detectRuntime(nb({}), { defaultRuntime: 'deno' })).toMatchObject({
      runtime: 'deno',
      reason: 'default',
    });
    expect(
      detectRuntime(nb({ kernelspec: { name: 'my-env' } }), { defaultRuntime: 'deno' }),
    ).toMatchObject({ runtime: 'deno', reason: 'default' });
  });

  it('rule 1 beats rule 2 and the language fields', () => {
    const metadata = {
      kernelspec: { name: 'deno-python-bridge', language: 'python' },
      language_info: { name: 'python' },
    };
    expect(detectRuntime(nb(metadata)).runtime).toBe('deno');
  });

  it('rule 2 beats kernelspec.language and language_info', () => {
    const metadata = {
      kernelspec: { name: 'python3', language: 'typescript' },
      language_info: { name: 'deno' },
    };
    expect(detectRuntime(nb(metadata))).toMatchObject({
      runtime: 'python',
      reason: 'kernelspec_name',
    });
  });

  it('rule 3 beats language_info', () => {
    const metadata = { kernelspec: { language: 'python' }, language_info: { name: 'typescript' } };
    expect(detectRuntime(nb(metadata))).toMatchObject({
      runtime: 'python',
      reason: 'kernelspec_language',
    });
  });

  it('the notebook beats the default runtime', () => {
    expect(
      detectRuntime(nb({ kernelspec: { name: 'deno' } }), { defaultRuntime: 'python' }).runtime,
    ).toBe('deno');
    expect(
      detectRuntime(nb({ language_info: { name: 'python' } }), { defaultRuntime: 'deno' }).runtime,
    ).toBe('python');
  });
});

describe('unsupported runtimes', () => {
  it.each([
    ['R by kernelspec.language', { kernelspec: { name: 'ir', language: 'R' } }, 'r'],
    [
      'Julia by kernelspec.language',
      { kernelspec: { name: 'julia-1.10', language: 'julia' } },
      'julia',
    ],
    ['Julia by language_info', { language_info: { name: 'Julia' } }, 'julia'],
    ['R by kernel name alone', { kernelspec: { name: 'ir' } }, 'ir'],
    ['Julia by kernel name alone', { kernelspec: { name: 'julia-1.9' } }, 'julia-1.9'],
    ['Scala by kernel name', { kernelspec: { name: 'almond' } }, 'almond'],
    ['an unknown language', { kernelspec: { language: 'cobol' } }, 'cobol'],
  ])('%s → unsupported_runtime naming it', (_label, metadata, language) => {
    let caught: unknown;
    try {
      detectRuntime(nb(metadata));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EnvDetectionError);
    const error = caught as EnvDetectionError;
    expect(error.code).toBe('unsupported_runtime');
    expect(error.details.language).toBe(language);
    expect(error.message).toContain(JSON.stringify(language));
  });

  it('never silently runs an R notebook as Python, even with a python default', () => {
    expect(() =>
      detectRuntime(nb({ language_info: { name: 'R' } }), { defaultRuntime: 'python' }),
    ).toThrowError(expect.objectContaining({ code: 'unsupported_runtime' }));
  });

  it('keeps hostile language names out of the message', () => {
    try {
      detectRuntime(nb({ kernelspec: { language: `evil\n${'x'.repeat(500)}\u0000` } }));
      expect.unreachable();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toMatch(/[\u0000-\u001f]/);
      expect(message.length).toBeLessThan(300);
    }
  });

  it('does not mistake python or conda-style kernel names for other languages', () => {
    for (const name of ['conda-env-myenv-py', 'pysparkkernel', 'xpython', 'ds-env']) {
      expect(() => detectRuntime(nb({ kernelspec: { name } }))).not.toThrow();
    }
  });
});

describe('detectRuntime on bad input', () => {
  it.each([null, 5, 'python', [], { metadata: { kernelspec: { name: 7 } } }])(
    'refuses %j with notebook_invalid',
    (value) => {
      expect(() => detectRuntime(value)).toThrowError(
        expect.objectContaining({ code: 'notebook_invalid' }),
      );
    },
  );

  it('returns a runtime or a typed error for any metadata', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom('deno', 'python', 'typescript', 'R', 'julia', 'JavaScript', ''),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            kernelspec: fc.oneof(
              fc.record({ name: text, language: text }, { requiredKeys: [] }),
              fc.anything(),
            ),
            language_info: fc.oneof(fc.record({ name: text }), fc.anything()),
          },
          { requiredKeys: [] },
        ),
        (metadata) => {
          try {
            const result = detectRuntime({ metadata });
            expect(['python', 'deno']).toContain(result.runtime);
          } catch (error) {
            expect(error).toBeInstanceOf(EnvDetectionError);
          }
        },
      ),
    );
  });
});
