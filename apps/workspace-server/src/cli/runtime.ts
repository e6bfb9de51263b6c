import { type CliIo, ExitCode, parseCommand, println, UsageError } from './common.js';

export const RUNTIME_HELP = `Usage: runyard runtime serve --host <h> --port <p> --token <t> --workspace <dir>

Runs a standalone runtime server (the /v1 API) that a workspace server registers with
POST /api/runtimes { id, url, token }.`;

export async function runtimeCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(io, args);
  const [sub] = positionals;
  if (values.help || sub === undefined) {
    println(values.help ? io.stdout : io.stderr, RUNTIME_HELP);
    return values.help ? ExitCode.ok : ExitCode.usage;
  }
  if (sub !== 'serve') throw new UsageError(`unknown runtime command: ${sub}`);
  // TODO(runtime parts): start the embedded runtime's /v1 server once it is on main.
  println(io.stderr, 'runyard: the standalone runtime server is not part of this build yet');
  return ExitCode.failure;
}
