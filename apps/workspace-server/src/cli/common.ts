import { parseArgs } from 'node:util';
import {
  ConfigError,
  isMultiple,
  loadServeConfig,
  SERVE_OPTIONS,
  type ServeConfig,
  type ServeOptionKey,
} from '../config.js';

/** Documented exit codes. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, blockedOnTrust: 3 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where a command writes; injected so tests can capture it. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
}

export const processIo = (): CliIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});

export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** Prints a command's help: asked for (`--help`) on stdout with exit 0, else on stderr as a usage error. */
export function printHelp(io: CliIo, text: string, asked: boolean): ExitCode {
  println(asked ? io.stdout : io.stderr, text);
  return asked ? ExitCode.ok : ExitCode.usage;
}

export function printJson(io: CliIo, value: unknown): void {
  println(io.stdout, JSON.stringify(value, null, 2));
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

/**
 * Parses a command's arguments: its own options plus every `serve` option (so `--data-dir`,
 * `--config-dir`, ... mean the same everywhere) and `--config`. Unknown options are usage
 * errors (exit 2).
 */
export function parseCommand(
  io: CliIo,
  args: string[],
  own: Record<string, OptionSpec> = {},
): {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  config: () => ServeConfig;
} {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...Object.fromEntries(
          SERVE_OPTIONS.map((option) => [
            option.flag,
            { type: 'string' as const, multiple: isMultiple(option) },
          ]),
        ),
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...own,
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  return {
    values,
    positionals: parsed.positionals,
    config() {
      const flags: Partial<Record<ServeOptionKey, string | string[]>> = {};
      for (const option of SERVE_OPTIONS) {
        const value = values[option.flag];
        if (typeof value === 'string' || Array.isArray(value)) flags[option.key] = value;
      }
      return loadServeConfig({
        flags,
        env: io.env,
        cwd: io.cwd,
        ...(typeof values.config === 'string' ? { configFile: values.config } : {}),
        ...(io.env.HOME ? { home: io.env.HOME } : {}),
      });
    },
  };
}

export function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || error instanceof ConfigError;
}
