// Runs one command through runCommand (how env builds run pip), reports, then waits to be
// SIGKILLed: the test plays the part of a runtime killed during an env build.
import { runCommand } from '../process.js';

const argv = JSON.parse(process.argv[2] as string) as string[];
process.stdout.write('running\n');
await runCommand(argv).catch(() => undefined);
