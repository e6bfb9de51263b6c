import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Publisher, Router } from 'zeromq';
import { KernelClient } from './client.js';
import { channelAddress, createConnectionInfo } from './connection.js';
import { removeRoot, tempRoot } from './test-support/helpers.js';
import { parse, serialize } from './wire.js';

const root = tempRoot('client');
afterAll(() => removeRoot(root));

describe('KernelClient against a peer that forges replies', () => {
  it('rejects a tampered signature and a wrong key, and accepts the genuine reply', async () => {
    const info = await createConnectionInfo({ transport: 'tcp', runtimeDir: join(root, 'rt') });
    const shell = new Router({ linger: 0 });
    const control = new Router({ linger: 0 });
    const stdin = new Router({ linger: 0 });
    const hb = new Router({ linger: 0 });
    const iopub = new Publisher({ linger: 0 });
    await Promise.all([
      shell.bind(channelAddress(info, 'shell')),
      control.bind(channelAddress(info, 'control')),
      stdin.bind(channelAddress(info, 'stdin')),
      hb.bind(channelAddress(info, 'hb')),
      iopub.bind(channelAddress(info, 'iopub')),
    ]);
    const client = new KernelClient({ connection: info }, { heartbeatTimeoutMs: 0 });
    const rejected: string[] = [];
    client.on('rejected', ({ channel, reason }) => rejected.push(`${channel}:${reason}`));
    try {
      const reply = client.kernelInfo(10_000);
      const [identity, ...frames] = await shell.receive();
      const request = parse(frames, info.key);
      expect(request.ok).toBe(true);
      if (!request.ok || !identity) return;
      expect(request.message.header.msg_type).toBe('kernel_info_request');
      const answer = (implementation: string, key: string) =>
        serialize(
          {
            msgType: 'kernel_info_reply',
            content: {
              status: 'ok',
              implementation,
              protocol_version: '5.3',
              language_info: { name: 'x' },
            },
            parentHeader: request.message.header,
            session: 'peer',
            identities: [identity],
          },
          key,
        ).frames;

      // Signed correctly, then the content swapped: the signature no longer matches.
      const tampered = answer('genuine', info.key);
      tampered[6] = Buffer.from(JSON.stringify({ status: 'ok', implementation: 'tampered' }));
      await shell.send(tampered);
      await shell.send(answer('wrong-key', 'f'.repeat(64)));
      await shell.send(answer('genuine', info.key));

      expect((await reply).implementation).toBe('genuine');
      expect(rejected).toEqual(['shell:bad_signature', 'shell:bad_signature']);
    } finally {
      await client.close();
      for (const socket of [shell, control, stdin, hb, iopub]) socket.close();
    }
  });
});
