import { ApiError } from './client.js';
import { type CliIo, ExitCode, isUsageError, println, processIo } from './common.js';

export const USAGE = `Usage: runyard <command> [options]

Commands:
  serve                         start the workspace server (default)
  mcp                           MCP over stdio with an embedded runtime
  runtime serve                 a standalone runtime server (/v1)
  detect <notebook> [--json]    runtime and environment a notebook needs
  trust status <notebook>       trust decision (exit 3 when approval is needed)
  trust approve <notebook>      allowlist the notebook's dependencies and sign it
  trust packages                the package allowlist
  bundle digest <file>          a config bundle's digest
  bundle validate <file>        validate a config bundle
  skills plan|reconcile|status|stop
                                managed skills on the running server (stop = kill switch)
  env ls|gc                     cached environments

Exit codes: 0 ok, 1 failure, 2 usage, 3 blocked on trust.
Run "runyard <command> --help" for a command's options.`;

type Command = (io: CliIo, args: string[]) => Promise<number>;

// Each command is loaded when it runs, so `runyard detect` never loads the server, the kernels'
// ZeroMQ binding or SQLite: a one-shot command pays for what it uses (see the CLI figures in
// BENCHMARKS.md).
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  mcp: async () => (await import('./mcp.js')).mcpCommand,
  runtime: async () => (await import('./runtime.js')).runtimeCommand,
  detect: async () => (await import('./detect.js')).detectCommand,
  trust: async () => (await import('./trust.js')).trustCommand,
  bundle: async () => (await import('./bundle.js')).bundleCommand,
  skills: async () => (await import('./skills.js')).skillsCommand,
  env: async () => (await import('./env.js')).envCommand,
};

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'help' || first === '--help' || first === '-h') {
    println(io.stdout, USAGE);
    return ExitCode.ok;
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = name === first ? rest : argv;
  const load = COMMANDS[name];
  if (!load) {
    println(io.stderr, `runyard: unknown command: ${name}\n\n${USAGE}`);
    return ExitCode.usage;
  }
  try {
    return await (await load())(io, args);
  } catch (error) {
    const message = (error as Error).message;
    if (isUsageError(error)) {
      println(io.stderr, `runyard: ${message}`);
      return ExitCode.usage;
    }
    const code = (error as { code?: unknown }).code;
    if (error instanceof ApiError || typeof code === 'string') {
      println(io.stderr, `runyard: ${typeof code === 'string' ? `${code}: ` : ''}${message}`);
      return ExitCode.failure;
    }
    if ((error as NodeJS.ErrnoException).syscall !== undefined) {
      // fs errors name host paths: say what failed without echoing the path.
      println(
        io.stderr,
        `runyard: ${(error as NodeJS.ErrnoException).code ?? 'io_error'}: a file could not be read or written`,
      );
      return ExitCode.failure;
    }
    println(io.stderr, `runyard: ${message}`);
    return ExitCode.failure;
  }
}
