import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Publisher, Router } from 'zeromq';
import { KernelClient } from './client.js';
import { channelAddress, createConnectionInfo } from './connection.js';
import { removeRoot, tempRoot } from './test-support/helpers.js';
import { type JupyterMessage, parse, serialize } from './wire.js';

const root = tempRoot('client');
afterAll(() => removeRoot(root));

/** Binds every channel of a fresh connection file, so a test can play the kernel by hand. */
async function fakeKernelPeer(runtimeDir: string) {
  const info = await createConnectionInfo({ transport: 'tcp', runtimeDir: join(root, runtimeDir) });
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
  const close = () => {
    for (const socket of [shell, control, stdin, hb, iopub]) socket.close();
  };
  return { info, shell, iopub, close };
}

describe('KernelClient against a peer that forges replies', () => {
  it('rejects a tampered signature and a wrong key, and accepts the genuine reply', async () => {
    const { info, shell, close } = await fakeKernelPeer('rt');
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
      close();
    }
  });
});

describe('KernelClient against a kernel that publishes outputs after idle', () => {
  it("waits for a cell's trailing outputs instead of returning at its idle", async () => {
    const { info, shell, iopub, close } = await fakeKernelPeer('late');
    const publish = (msgType: string, content: Record<string, unknown>, parent: JupyterMessage) =>
      iopub.send(
        serialize({ msgType, content, parentHeader: parent.header, session: 'peer' }, info.key)
          .frames,
      );
    // Like Deno's kernel, this one publishes a cell's outputs from a queue that is not ordered
    // before the cell's `idle`. Deterministically worst case: each held output goes out only when
    // the next shell request arrives, i.e. after the client has seen reply and idle.
    const held: Array<() => Promise<void>> = [];
    const shellTypes: string[] = [];
    const serve = (async () => {
      for await (const [identity, ...frames] of shell) {
        const parsed = parse(frames, info.key);
        if (!parsed.ok || !identity) continue;
        const request = parsed.message;
        const type = request.header.msg_type;
        shellTypes.push(type);
        await held.shift()?.();
        await publish('status', { execution_state: 'busy' }, request);
        const reply = (msgType: string, content: Record<string, unknown>) =>
          shell.send(
            serialize(
              {
                msgType,
                content,
                parentHeader: request.header,
                session: 'peer',
                identities: [identity],
              },
              info.key,
            ).frames,
          );
        if (type === 'execute_request') {
          held.push(
            () => publish('stream', { name: 'stdout', text: 'late\n' }, request),
            () =>
              publish(
                'execute_result',
                { execution_count: 1, data: { 'text/plain': '42' }, metadata: {} },
                request,
              ),
          );
          await reply('execute_reply', { status: 'ok', execution_count: 1 });
        } else {
          await reply('kernel_info_reply', {
            status: 'ok',
            protocol_version: '5.3',
            implementation: 'late-kernel',
            language_info: { name: 'x' },
          });
        }
        await publish('status', { execution_state: 'idle' }, request);
      }
    })();
    const client = new KernelClient({ connection: info }, { heartbeatTimeoutMs: 0 });
    try {
      await client.waitReady({ timeoutMs: 30_000 });
      shellTypes.length = 0;
      const result = await client.execute('late()');
      expect(result.status).toBe('ok');
      expect(result.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: 'late\n' },
        {
          output_type: 'execute_result',
          execution_count: 1,
          data: { 'text/plain': '42' },
          metadata: {},
        },
      ]);
      // One settle round per trailing output, and a last one that found nothing new.
      expect(shellTypes).toEqual([
        'execute_request',
        'kernel_info_request',
        'kernel_info_request',
        'kernel_info_request',
      ]);
    } finally {
      await client.close();
      close();
      await serve.catch(() => undefined);
    }
  });
});
