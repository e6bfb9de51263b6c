import { EnvDetectionError } from './errors.js';

/** Longest conda channel accepted (a name or a URL). */
export const MAX_CHANNEL_LENGTH = 256;

// A channel is a name (`conda-forge`, `pytorch/label/nightly`) or a URL. Anything with spaces,
// quotes or shell metacharacters is refused before it reaches a conda/pixi command line.
const CHANNEL =
  /^(?:[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:\/[A-Za-z0-9_.+-]+)*|(?:https?|file|s3):\/\/[A-Za-z0-9_.:/@%+~=-]+)$/;

/** Validates a conda channel and returns it trimmed; throws `invalid_dependency` otherwise. */
export function parseChannel(channel: unknown): string {
  if (typeof channel !== 'string') {
    throw new EnvDetectionError('invalid_dependency', 'invalid conda channel: not a string');
  }
  const trimmed = channel.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_CHANNEL_LENGTH || !CHANNEL.test(trimmed)) {
    throw new EnvDetectionError('invalid_dependency', 'invalid conda channel name or URL');
  }
  return trimmed;
}
