import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { environBounds, isWithheldVariable, withheldValueRanges } from './environ.js';

const SECRET = 'environ-secret-value-42';

describe('issue 15 finding 5: secrets withheld from the process environment', () => {
  it('attack: /proc/<pid>/environ of a process that withheld its secrets shows no value', async () => {
    // A real process with the secret in its initial environment, read from outside through
    // /proc the way an unsandboxed kernel read its parent's.
    const module = fileURLToPath(new URL('./environ.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { withholdSecretsFromEnvironment } = await import(${JSON.stringify(module)});
         const result = withholdSecretsFromEnvironment();
         process.stdout.write(JSON.stringify({ scrubbed: result.scrubbed, got: result.values.RUNYARD_SECRET_X === ${JSON.stringify(SECRET)}, left: process.env.RUNYARD_SECRET_X ?? null }) + '\\n');
         setInterval(() => {}, 1000);`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          RUNYARD_SECRET_X: SECRET,
          RUNYARD_TOKEN: 'tok-0123456789',
          KEEP: 'kept',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.once('exit', () => reject(new Error(`child exited: ${out}`)));
      });
      expect(JSON.parse(line)).toEqual({ scrubbed: true, got: true, left: null });
      const environ = readFileSync(`/proc/${child.pid}/environ`, 'latin1');
      expect(environ).not.toContain(SECRET);
      expect(environ).not.toContain('tok-0123456789');
      expect(environ).toContain('RUNYARD_SECRET_X=***');
      expect(environ).toContain('KEEP=kept');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('finds the block and the withheld values (pure parts)', () => {
    const stat = `42 (we ird) name) S ${Array.from({ length: 46 }, (_, i) => i + 4).join(' ')} 1000 2000 0`;
    expect(environBounds(stat)).toEqual({ start: 1000, end: 2000 });
    expect(environBounds('1 (x) S 1 2')).toBeUndefined();
    const block = Buffer.from('A=1\0RUNYARD_SECRET_B=xyz\0RUNYARD_TOKEN=t\0C=\0', 'latin1');
    expect(withheldValueRanges(block)).toEqual([
      { offset: 21, length: 3 },
      { offset: 39, length: 1 },
    ]);
    expect(isWithheldVariable('RUNYARD_SECRET_')).toBe(true);
    expect(isWithheldVariable('RUNYARD_DATA_DIR')).toBe(false);
  });
});
