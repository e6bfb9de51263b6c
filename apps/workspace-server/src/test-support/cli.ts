import { PassThrough } from 'node:stream';
import { main } from '../cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI in-process with captured output and an explicit environment. */
export async function runCli(
  argv: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const code = await main(argv, {
    stdout,
    stderr,
    env: { HOME: options.cwd, ...options.env },
    cwd: options.cwd,
  });
  return {
    code,
    stdout: out,
    stderr: err,
    json: <T>() => JSON.parse(out) as T,
  };
}
