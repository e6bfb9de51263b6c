import { serveHelp } from '../config.js';
import { describePython } from '../python.js';
import { startWorkspaceServer } from '../server.js';
import { type CliIo, ExitCode, parseCommand, printHelp, println } from './common.js';
import { createProgress, showRuntimeProgress } from './progress.js';
import { withholdSecrets } from './secrets.js';
import { waitForSignal } from './signals.js';

export async function serveCommand(cliIo: CliIo, args: string[]): Promise<number> {
  const { io, scrubbed } = withholdSecrets(cliIo);
  const { values, config } = parseCommand(io, args);
  if (values.help) return printHelp(io, serveHelp(), true);
  const server = await startWorkspaceServer(config(), { env: io.env });
  // Listening for signals before announcing readiness: a supervisor (or a test) may send
  // SIGTERM the moment it reads the first line, and without a listener that kills the process
  // outright, leaving kernels behind.
  const signalled = waitForSignal();
  println(io.stdout, `Runyard listening on ${server.url}`);
  if (server.sandbox.warning) {
    // Loud on purpose: `auto` falling back to off must not pass as a routine notice.
    println(io.stderr, `WARNING: ${server.sandbox.warning}.`);
    if (!scrubbed)
      println(
        io.stderr,
        'WARNING: RUNYARD_SECRET_* and tokens could not be erased from /proc/<pid>/environ here; unsandboxed kernels can read them.',
      );
  }
  if (server.token.source === 'configured') {
    println(io.stdout, 'API token: the one you configured (RUNYARD_TOKEN or --token).');
  } else {
    println(io.stdout, `API token: cat ${server.token.file}`);
  }
  // A missing ipykernel is a warning (envs can still install it), so it goes to stderr.
  println(
    server.services.python.hasIpykernel ? io.stdout : io.stderr,
    describePython(server.services.python),
  );
  const stopProgress = showRuntimeProgress(server.services.events, createProgress(io.stderr));
  const signal = await signalled;
  stopProgress();
  println(io.stderr, `Received ${signal}: stopping kernels and workers...`);
  await server.close();
  return ExitCode.ok;
}
