import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeFs } from './fs.js';

const root = mkdtempSync(join(tmpdir(), 'runyard-envfs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('nodeFs', () => {
  it('stats files, directories, missing paths and broken or looping symlinks', async () => {
    writeFileSync(join(root, 'a.toml'), 'x = 1\n');
    mkdirSync(join(root, 'dir'));
    symlinkSync(join(root, 'nowhere'), join(root, 'dangling'));
    symlinkSync(join(root, 'loop'), join(root, 'loop'));
    symlinkSync(join(root, 'a.toml'), join(root, 'link.toml'));
    expect(await nodeFs.stat(join(root, 'a.toml'))).toEqual({ kind: 'file', size: 6 });
    expect(await nodeFs.stat(join(root, 'link.toml'))).toEqual({ kind: 'file', size: 6 });
    expect(await nodeFs.stat(join(root, 'dir'))).toMatchObject({ kind: 'directory' });
    expect(await nodeFs.stat(join(root, 'missing'))).toBeNull();
    expect(await nodeFs.stat(join(root, 'a.toml', 'under-a-file'))).toBeNull();
    expect(await nodeFs.stat(join(root, 'dangling'))).toBeNull();
    expect(await nodeFs.stat(join(root, 'loop'))).toBeNull();
  });

  it('reads whole small files and stops one byte past the limit on big ones', async () => {
    const small = join(root, 'small');
    writeFileSync(small, 'hello');
    expect(Buffer.from(await nodeFs.readFile(small, 1024)).toString()).toBe('hello');
    const empty = join(root, 'empty');
    writeFileSync(empty, '');
    expect((await nodeFs.readFile(empty, 1024)).length).toBe(0);
    const big = join(root, 'big');
    writeFileSync(big, Buffer.alloc(300_000, 7));
    expect((await nodeFs.readFile(big, 100_000)).length).toBe(100_001);
    expect((await nodeFs.readFile(big, 1_000_000)).length).toBe(300_000);
  });

  it('reads files that report size 0 but have content (procfs)', async () => {
    const text = Buffer.from(await nodeFs.readFile('/proc/self/status', 1_000_000)).toString();
    expect(text).toMatch(/^Name:/);
  });
});
