import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KernelClient } from './client.js';
import { isKernelError } from './errors.js';
import { findKernelspecs } from './kernelspec.js';
import { launchKernel } from './launch.js';
import { type NotebookOutput, OutputCollector, outputBytes } from './outputs.js';
import { processesMentioning, rejection, removeRoot, tempRoot } from './test-support/helpers.js';

// Issue 15 finding 6: a kernel's huge output broke its notebook for good (the collector grew
// without limit, threw RangeError, and the iopub receive loop ended silently).
const root = tempRoot('flood');
let kernel: KernelClient;

beforeAll(async () => {
  const spec = findKernelspecs({ dataDirs: ['/usr/share/jupyter'] }).find(
    (s) => s.name === 'python3',
  );
  kernel = await launchKernel({ kernelspec: spec, runtimeDir: join(root, 'rt'), cwd: root });
});

afterAll(async () => {
  await kernel.shutdown();
  expect(processesMentioning(root)).toEqual([]);
  removeRoot(root);
});

const MiB = 1024 * 1024;
const size = (outputs: NotebookOutput[]) => outputs.reduce((n, o) => n + outputBytes(o), 0);

describe('issue 15 finding 6: output floods', () => {
  it('attack: 500 MB printed in 10 MB writes is cut at the budget with a marker; the kernel stays usable', async () => {
    const live: NotebookOutput[] = [];
    const result = await kernel.execute(
      'import sys\nchunk = "x" * 10_000_000\nfor _ in range(50):\n    sys.stdout.write(chunk); sys.stdout.flush()\nprint("end")',
      { outputBudgetBytes: 2 * MiB, onOutput: (output) => live.push(output) },
    );
    expect(result.status).toBe('ok');
    const marker = result.outputs.at(-1);
    expect(marker).toMatchObject({ output_type: 'stream', name: 'stderr' });
    expect(marker?.output_type === 'stream' && marker.text).toMatch(
      /output truncated: \d+ bytes in \d+ output\(s\) dropped beyond this execution's output budget of 2 MiB/,
    );
    // Bounded: the budget plus the marker, however much the kernel printed.
    expect(size(result.outputs.slice(0, -1))).toBeLessThanOrEqual(2 * MiB);
    expect(result.truncated?.budgetBytes).toBe(2 * MiB);
    const dropped = result.truncated?.droppedBytes ?? 0;
    const refused = result.truncated?.refusedMessages ?? 0;
    // Whatever was not refused unread was counted: at least the 498 MB past the budget.
    expect(dropped > 400_000_000 || refused > 0).toBe(true);
    // Live output stops at the budget too, after one notice.
    expect(size(live)).toBeLessThanOrEqual(2 * MiB + 1024);
    expect(
      live.filter((o) => o.output_type === 'stream' && o.text.includes('[runyard:')),
    ).toHaveLength(1);

    const next = await kernel.execute('print(6 * 7)');
    expect(next).toMatchObject({ status: 'ok', outputs: [{ name: 'stdout', text: '42\n' }] });
    expect(next.truncated).toBeUndefined();
  });

  it('attack: one 100 MB print (over the per-message limit) is refused unread, not buffered', async () => {
    const result = await kernel.execute('print("y" * 100_000_000)\nprint("after")', {
      outputBudgetBytes: MiB,
    });
    expect(result.status).toBe('ok');
    expect(size(result.outputs)).toBeLessThan(MiB + 1024);
    expect(result.truncated).toBeDefined();
    const next = await kernel.execute('print("still here")');
    expect(next.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'still here\n' }]);
  });

  it('attack: a failing iopub loop marks the kernel dead with kernel_channel_failed and rejects the execute', async () => {
    const victim = await launchKernel({
      kernelspec: findKernelspecs({ dataDirs: ['/usr/share/jupyter'] }).find(
        (s) => s.name === 'python3',
      ),
      runtimeDir: join(root, 'rt2'),
      cwd: root,
    });
    // The failure the issue reproduced: the collector throwing RangeError mid-stream.
    const spy = vi.spyOn(OutputCollector.prototype, 'handle').mockImplementationOnce(() => {
      throw new RangeError('Invalid string length');
    });
    try {
      const error = await rejection(victim.execute('print("boom")'));
      expect(isKernelError(error, 'kernel_channel_failed')).toBe(true);
      expect(victim.status).toBe('dead');
      // And it says so to the next caller instead of hanging.
      expect(isKernelError(await rejection(victim.execute('1')), 'kernel_dead')).toBe(true);
    } finally {
      spy.mockRestore();
      await victim.shutdown();
    }
  });
});

describe('OutputCollector budget', () => {
  it('keeps the prefix of a stream that fits, drops displays past it, and releases on clear', () => {
    const collector = new OutputCollector(100);
    collector.handle('stream', { name: 'stdout', text: 'a'.repeat(40) });
    collector.handle('stream', { name: 'stdout', text: 'b'.repeat(200) });
    expect(size(collector.outputs)).toBeLessThanOrEqual(100);
    expect(collector.outputs[0]?.output_type === 'stream' && collector.outputs[0].text).toMatch(
      /^a{40}b+$/,
    );
    expect(collector.handle('display_data', { data: { 'text/plain': 'z' } })).toBeUndefined();
    expect(collector.truncation).toMatchObject({ budgetBytes: 100, droppedOutputs: 2 });
    expect(collector.takeNotice()).toMatchObject({ name: 'stderr' });
    expect(collector.takeNotice()).toBeUndefined();
    collector.handle('clear_output', {});
    expect(collector.handle('stream', { name: 'stdout', text: 'ok' })).toBeDefined();
    expect(collector.result().at(-1)).toMatchObject({ name: 'stderr' });
  });
});
