import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Redactor } from './redact.js';

/**
 * A byte-stream Transform (e.g. for a worker's stdout) that decodes UTF-8 without splitting
 * characters and emits redacted text, holding back what might be the start of a secret.
 */
export function createRedactingTransform(redactor: Redactor): Transform {
  const decoder = new StringDecoder('utf8');
  const stream = redactor.createStreamRedactor();
  return new Transform({
    decodeStrings: true,
    transform(chunk: Buffer, _encoding, callback) {
      const out = stream.write(decoder.write(chunk));
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback) {
      const out = stream.write(decoder.end()) + stream.end();
      callback(null, out.length > 0 ? out : undefined);
    },
  });
}
