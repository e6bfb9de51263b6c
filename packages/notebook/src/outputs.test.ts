import { describe, expect, it } from 'vitest';
import { isNotebookError } from './errors.js';
import { EventLog } from './events.js';
import {
  cutMiddle,
  htmlToText,
  shapeOutput,
  shapeOutputs,
  stripAnsi,
  summarizeOutputs,
} from './outputs.js';

const limits = { textBytes: 100, tracebackBytes: 60, imageBytes: 10, totalBytes: 1000 };

describe('output shaping for LLM readers', () => {
  it('cuts long text in the middle, on character boundaries, stating the bytes cut', () => {
    expect(cutMiddle('short', 100)).toEqual({ text: 'short', cutBytes: 0, totalBytes: 5 });
    const long = `${'é'.repeat(100)}MIDDLE${'z'.repeat(100)}`;
    const cut = cutMiddle(long, 50);
    expect(cut.totalBytes).toBe(306);
    expect(cut.text.startsWith('é'.repeat(12))).toBe(true);
    expect(cut.text).not.toContain('\uFFFD');
    expect(cut.text).toContain(`[… ${cut.cutBytes} bytes cut …]`);
    expect(cut.text.endsWith('z'.repeat(25))).toBe(true);
    expect(
      Buffer.byteLength(cut.text.replace(/\n\[… \d+ bytes cut …\]\n/, '')) + cut.cutBytes,
    ).toBe(306);
  });

  it('shapes streams (stderr marked, ANSI stripped, consecutive chunks joined)', () => {
    const shaped = shapeOutputs(
      [
        { output_type: 'stream', name: 'stdout', text: 'a\n' },
        { output_type: 'stream', name: 'stdout', text: ['b\n', '\u001b[31mc\u001b[0m\n'] },
        { output_type: 'stream', name: 'stderr', text: 'warn' },
      ],
      limits,
    );
    expect(shaped.parts).toEqual([
      { type: 'text', text: 'a\nb\nc\n', outputIndex: 0, cutBytes: 0, totalBytes: 6 },
      { type: 'text', text: '[stderr]\nwarn', outputIndex: 2, cutBytes: 0, totalBytes: 4 },
    ]);
    expect(shaped.truncated).toBe(false);
  });

  it('passes small images through as base64, omits big ones with their size', () => {
    const small = shapeOutput(
      {
        output_type: 'display_data',
        data: { 'image/png': 'iVBORw0K\nGgo=', 'text/plain': '<Figure>' },
        metadata: {},
      },
      0,
      limits,
    );
    expect(small).toEqual([
      { type: 'image', mimeType: 'image/png', data: 'iVBORw0KGgo=', outputIndex: 0 },
      { type: 'text', text: '<Figure>', outputIndex: 0, cutBytes: 0, totalBytes: 8 },
    ]);
    const big = shapeOutput(
      { output_type: 'display_data', data: { 'image/jpeg': 'A'.repeat(400) }, metadata: {} },
      3,
      limits,
    );
    expect(big[0]).toMatchObject({
      type: 'text',
      text: '[image/jpeg of 300 bytes omitted: over the 10-byte image limit]',
    });
  });

  it('reduces HTML to its text (scripts and styles dropped, entities decoded)', () => {
    expect(
      htmlToText(
        '<div><script>alert("<b>")</script><style>b{}</style><b>Total</b> &amp; more&#33;&#x21;</div><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>',
      ),
    ).toBe('Total & more!!\n\na\tb\n\n1\t2');
    expect(htmlToText('<p>unclosed <b')).toBe('unclosed');
    expect(htmlToText('a < b')).toBe('a');
    const html = shapeOutput(
      {
        output_type: 'execute_result',
        execution_count: 1,
        data: { 'text/html': '<h1>T&lt;1&gt;</h1>' },
        metadata: {},
      },
      0,
      limits,
    );
    expect(html[0]).toMatchObject({ text: 'T<1>' });
    // Linear on hostile markup: many unterminated script tags.
    expect(htmlToText('<script>'.repeat(50_000))).toBe('');
  });

  it('renders errors as ename: evalue with a trimmed, ANSI-free traceback', () => {
    const [part] = shapeOutput(
      {
        output_type: 'error',
        ename: 'ZeroDivisionError',
        evalue: 'division by zero',
        traceback: [
          '\u001b[0;31m----\u001b[0m',
          `Cell \u001b[0;32mIn[3], line 1\u001b[0m\n${'x'.repeat(200)}`,
          '\u001b]8;;http://x\u0007link\u001b]8;;\u0007',
        ],
      },
      0,
      limits,
    );
    expect(part?.type).toBe('text');
    if (part?.type !== 'text') return;
    expect(
      part.text.startsWith('ZeroDivisionError: division by zero\n----\nCell In[3], line 1'),
    ).toBe(true);
    expect(part.text).not.toContain('\u001b');
    expect(part.text.endsWith('link')).toBe(true);
    expect(part.cutBytes).toBeGreaterThan(0);
    expect(stripAnsi('\u001b[1;38;5;241mx\u001b[39;49m')).toBe('x');
  });

  it('stops shaping past the total budget and says how many outputs it left out', () => {
    const outputs = Array.from({ length: 30 }, (_, i) => ({
      output_type: 'display_data',
      data: { 'text/plain': 'y'.repeat(90) },
      metadata: {},
      i,
    }));
    const shaped = shapeOutputs(outputs, limits);
    expect(shaped.parts).toHaveLength(12);
    expect(shaped.omittedOutputs).toBe(18);
    expect(shaped.truncated).toBe(true);
  });

  it('summarises outputs defensively', () => {
    expect(summarizeOutputs('nonsense')).toEqual({ counts: {}, preview: '', hasError: false });
    expect(
      summarizeOutputs([
        null,
        1,
        { output_type: 7 },
        { output_type: 'display_data', data: { 'text/plain': ['x', 'y'] } },
      ]),
    ).toEqual({
      counts: { unknown: 1, display_data: 1 },
      preview: 'xy',
      hasError: false,
    });
    const many = summarizeOutputs([
      { output_type: 'stream', name: 'stdout', text: 'q'.repeat(10_000) },
    ]);
    expect(many.preview).toHaveLength(200);
  });
});

describe('event ring buffer', () => {
  it('returns missed events, or says the gap is too old or ahead', () => {
    const log = new EventLog(3);
    expect(log.since(0)).toEqual({ kind: 'events', events: [], latestSeq: 0 });
    for (let i = 0; i < 5; i++)
      log.append({ type: 'cell_removed', cellId: `c${i}`, index: i }, i + 1);
    expect(log.oldestSeq).toBe(3);
    const ok = log.since(2);
    expect(ok.kind === 'events' && ok.events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.since(5)).toEqual({ kind: 'events', events: [], latestSeq: 5 });
    expect(log.since(1)).toEqual({ kind: 'gap', reason: 'too_old', oldestSeq: 3, latestSeq: 5 });
    expect(log.since(9)).toEqual({ kind: 'gap', reason: 'ahead', oldestSeq: 3, latestSeq: 5 });
    try {
      log.sinceOrThrow(0);
      throw new Error('no gap');
    } catch (error) {
      expect(isNotebookError(error, 'notebook_event_gap')).toBe(true);
      expect((error as { status: number }).status).toBe(410);
      expect((error as { details: unknown }).details).toEqual({
        reason: 'too_old',
        nextAction: { kind: 'resync_events', oldestSeq: 3, latestSeq: 5 },
      });
    }
    expect(() => log.since(-1)).toThrow();
    expect(() => log.since(1.5)).toThrow();
  });
});
