import { ConfigBundleError } from '@runyard/config-bundles';
import { describe, expect, it } from 'vitest';
import { RuntimeRedaction } from './redaction.js';

describe('RuntimeRedaction', () => {
  it('learns values as they are resolved, keeps same-named values apart', () => {
    const redaction = new RuntimeRedaction();
    expect(redaction.redact('value-one-123 value-two-456')).toBe('value-one-123 value-two-456');
    redaction.add('API_TOKEN', 'value-one-123');
    redaction.add('API_TOKEN', 'value-two-456');
    redaction.add('API_TOKEN', 'value-two-456');
    expect(redaction.redact('value-one-123 value-two-456')).toBe(
      '[REDACTED:API_TOKEN] [REDACTED:API_TOKEN_2]',
    );
    // A name that is an own property of plain objects is just a name.
    redaction.add('__proto__', 'prototype-value');
    expect(redaction.redact('x prototype-value')).toBe('x [REDACTED:__proto__]');
  });

  it('streams catch a value split across chunks', () => {
    const redaction = new RuntimeRedaction();
    redaction.add('TOKEN', 'split-secret-value');
    const stream = redaction.stream();
    const out = [
      stream.write('a split-se'),
      stream.write('cret-va'),
      stream.write('lue b'),
      stream.end(),
    ];
    expect(out.join('')).toBe('a [REDACTED:TOKEN] b');
    expect(out.some((piece) => piece.includes('split-se'))).toBe(false);
  });

  it('redacts values (events, results) and errors in place, keeping class and code', () => {
    const redaction = new RuntimeRedaction();
    redaction.add('TOKEN', 'error-secret-value');
    expect(redaction.redactValue({ text: ['error-secret-value'] })).toEqual({
      text: ['[REDACTED:TOKEN]'],
    });
    const error = new ConfigBundleError('secret_unavailable', 'got error-secret-value back');
    expect(redaction.redactError(error)).toBe(error);
    expect(error).toBeInstanceOf(ConfigBundleError);
    expect(error.code).toBe('secret_unavailable');
    expect(error.message).toBe('got [REDACTED:TOKEN] back');
  });
});
