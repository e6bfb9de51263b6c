import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createConnectionInfo, freePorts, writeConnectionFile } from './connection.js';
import { KernelError } from './errors.js';
import { ipykernelArgv, launchKernel } from './launch.js';
import { removeRoot, SYSTEM_PYTHON, tempRoot } from './test-support/helpers.js';

const root = tempRoot('conn');
afterAll(() => removeRoot(root));

function refusal(run: () => unknown): KernelError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    return error as KernelError;
  }
  throw new Error('expected a refusal');
}

describe('runtime dir', () => {
  it('refuses a pre-created symlink (as an attacker would plant in /tmp) and writes nothing', async () => {
    const target = join(root, 'attacker-owned');
    mkdirSync(target, { mode: 0o777 });
    const dir = join(root, 'runyard-kernels-0');
    symlinkSync(target, dir);
    const info = await createConnectionInfo({ runtimeDir: dir });
    const error = refusal(() => writeConnectionFile(dir, info));
    expect(error.code).toBe('runtime_dir_insecure');
    expect(error.message).not.toContain(root);
    expect(readdirSync(target)).toEqual([]);
    // launchKernel surfaces it typed, before any process starts.
    await expect(
      launchKernel({ argv: ipykernelArgv(SYSTEM_PYTHON), runtimeDir: dir }),
    ).rejects.toMatchObject({ code: 'runtime_dir_insecure' });
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a directory owned by another user and a file in the way', async () => {
    const info = await createConnectionInfo({ runtimeDir: root });
    const foreign = join(root, 'foreign');
    mkdirSync(foreign, { mode: 0o700 });
    if (process.getuid?.() === 0) {
      chownSync(foreign, 65534, 65534);
      expect(refusal(() => writeConnectionFile(foreign, info)).code).toBe('runtime_dir_insecure');
    }
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    expect(refusal(() => writeConnectionFile(file, info)).code).toBe('runtime_dir_insecure');
  });

  it('tightens our own directory with a loose mode to 0700', async () => {
    const dir = join(root, 'loose');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const info = await createConnectionInfo({ runtimeDir: dir });
    const written = writeConnectionFile(dir, info);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(written).mode & 0o777).toBe(0o600);
  });
});

describe('ports', () => {
  it('hands out distinct bindable ports below the ephemeral range', async () => {
    const ports = await freePorts(25);
    expect(new Set(ports).size).toBe(25);
    const range = '/proc/sys/net/ipv4/ip_local_port_range';
    if (existsSync(range)) {
      const low = Number(readFileSync(range, 'utf8').trim().split(/\s+/)[0]);
      for (const port of ports) expect(port).toBeLessThan(low);
    }
    // Every port is really free again: bind all of them.
    const servers = await Promise.all(
      ports.map(
        (port) =>
          new Promise<import('node:net').Server>((resolve, reject) => {
            const server = createServer();
            server.once('error', reject);
            server.listen(port, '127.0.0.1', () => resolve(server));
          }),
      ),
    );
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('retries a start whose port was taken meanwhile, on fresh ports', async () => {
    // The first start dies the way ipykernel does when a port is taken; the second is real.
    const marker = join(root, 'first-start-done');
    const script = join(root, 'port-race.sh');
    writeFileSync(
      script,
      `#!/bin/sh\nif [ ! -e '${marker}' ]; then : > '${marker}'; echo 'zmq.error.ZMQError: Address already in use (addr=tcp://127.0.0.1:1)' >&2; exit 1; fi\nexec ${SYSTEM_PYTHON} -m ipykernel_launcher -f "$1"\n`,
      { mode: 0o755 },
    );
    const kernel = await launchKernel({
      argv: [script, '{connection_file}'],
      runtimeDir: join(root, 'race-rt'),
    });
    try {
      expect(existsSync(marker)).toBe(true);
      const result = await kernel.execute('1+1');
      expect(result.status).toBe('ok');
    } finally {
      await kernel.shutdown();
    }
  });

  it('does not retry other startup failures', async () => {
    const script = join(root, 'plain-exit.sh');
    const count = join(root, 'plain-exit-count');
    writeFileSync(script, `#!/bin/sh\necho x >> '${count}'\necho boom >&2\nexit 3\n`, {
      mode: 0o755,
    });
    await expect(
      launchKernel({ argv: [script, '{connection_file}'], runtimeDir: join(root, 'plain-rt') }),
    ).rejects.toMatchObject({ code: 'kernel_exited' });
    expect(readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
