import { type Logger, pino } from 'pino';

/** Paths pino replaces with `[REDACTED]` in every structured log line. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'password',
  '*.password',
];

/** Known secret values (API token, skills token) never reach a log line, whatever the field. */
export function createLogger(options: {
  level: string;
  secrets?: readonly (string | undefined)[];
  /** Default: stderr. Anything with `write(line)` (a stream, the pretty formatter). */
  destination?: pino.DestinationStream;
}): Logger {
  const secrets = (options.secrets ?? []).filter(
    (value): value is string => typeof value === 'string' && value.length >= 8,
  );
  const scrub = (text: string) =>
    secrets.reduce((acc, secret) => acc.split(secret).join('[REDACTED]'), text);
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg)) as Parameters<
              typeof method
            >,
          );
        },
      },
    },
    options.destination ?? pino.destination(2),
  );
}
