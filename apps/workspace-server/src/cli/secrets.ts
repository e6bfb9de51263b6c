import { withholdSecretsFromEnvironment } from '@runyard/sandbox';
import type { CliIo } from './common.js';

// Its own module so that only the commands that start kernels load @runyard/sandbox.
/**
 * For long-lived commands that start kernels: takes `RUNYARD_SECRET_*` and the API tokens out
 * of the process environment (and its `/proc/<pid>/environ` block, see `@runyard/sandbox`'s
 * `withholdSecretsFromEnvironment`) before anything is spawned, and hands the command a private
 * copy of the environment that still has them. With an injected environment (tests) nothing
 * process-wide is touched.
 */
export function withholdSecrets(io: CliIo): { io: CliIo; scrubbed: boolean } {
  if (io.env !== process.env) return { io, scrubbed: true };
  const withheld = withholdSecretsFromEnvironment(process.env);
  const none = Object.keys(withheld.values).length === 0;
  return {
    io: { ...io, env: { ...process.env, ...withheld.values } },
    scrubbed: none || withheld.scrubbed,
  };
}
