import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatLogLine, prettyLogStream, resolveLogFormat } from './log-format.js';
import { createLogger } from './logger.js';

const time = new Date(2025, 0, 2, 3, 4, 5).getTime();

describe('resolveLogFormat', () => {
  it('is pretty on a terminal and JSON otherwise under auto; an explicit choice wins', () => {
    expect(resolveLogFormat('auto', { isTTY: true })).toBe('pretty');
    expect(resolveLogFormat('auto', {})).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true })).toBe('json');
    expect(resolveLogFormat('pretty', {})).toBe('pretty');
  });
});

describe('formatLogLine', () => {
  it('renders time, level, message and fastify request fields', () => {
    const line = JSON.stringify({
      level: 30,
      time,
      pid: 1,
      hostname: 'h',
      reqId: 'req-1',
      req: { method: 'GET', url: '/api/notebooks' },
      res: { statusCode: 200 },
      responseTime: 3.125,
      msg: 'request completed',
    });
    expect(formatLogLine(line)).toBe(
      '03:04:05 INFO  request completed reqId=req-1 req=GET /api/notebooks res=200 responseTime=3.1ms',
    );
  });

  it('shows an error with its stack indented below, and colours the level when asked', () => {
    const line = JSON.stringify({
      level: 50,
      time,
      msg: 'unhandled error',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' },
    });
    expect(formatLogLine(line)).toBe(
      '03:04:05 ERROR unhandled error err=Error: boom\n    at f (x.js:1:1)',
    );
    expect(formatLogLine(line, { color: true })).toContain('\u001b[31mERROR\u001b[0m');
  });

  it('passes a line that is not a JSON object through unchanged and caps long values', () => {
    expect(formatLogLine('plain text')).toBe('plain text');
    expect(formatLogLine('[1,2]')).toBe('[1,2]');
    const long = formatLogLine(
      JSON.stringify({ level: 40, time, msg: 'm', detail: 'x'.repeat(500) }),
    );
    expect(long.length).toBeLessThan(250);
    expect(long).toMatch(/^03:04:05 WARN {2}m detail=x+…$/);
  });
});

describe('prettyLogStream', () => {
  it('formats what the logger writes, after redaction, one line per record', () => {
    let out = '';
    const target = new Writable({
      write(chunk, _encoding, done) {
        out += String(chunk);
        done();
      },
    });
    const token = 'secret-token-0123456789';
    const logger = createLogger({
      level: 'info',
      secrets: [token],
      destination: prettyLogStream(target),
    });
    logger.info({ authorization: `Bearer ${token}` }, `started with ${token}`);
    logger.warn('second');
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d INFO {2}started with \[REDACTED\] authorization=\[REDACTED\]$/,
    );
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d WARN {2}second$/);
    expect(out).not.toContain(token);
  });
});
