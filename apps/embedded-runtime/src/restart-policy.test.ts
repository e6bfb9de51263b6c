import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, decideRestart } from './notebooks.js';

const MINUTE = 60_000;

describe('the automatic restart policy', () => {
  it('is 3 restarts in 5 minutes by default', () => {
    expect(DEFAULT_RESTART_POLICY).toEqual({ maxRestarts: 3, windowMs: 5 * MINUTE });
  });

  it('restarts three deaths in a row, refuses the fourth, and allows again once the window slid', () => {
    const policy = DEFAULT_RESTART_POLICY;
    let restarts: number[] = [];
    for (const at of [0, 1 * MINUTE, 2 * MINUTE]) {
      const decision = decideRestart(restarts, at, policy);
      expect(decision.restart).toBe(true);
      restarts = decision.restarts;
    }
    const fourth = decideRestart(restarts, 4 * MINUTE, policy);
    expect(fourth).toEqual({ restart: false, restarts: [0, MINUTE, 2 * MINUTE] });
    // A refusal records nothing: the refused death does not push the window out.
    const atEdge = decideRestart(fourth.restarts, 5 * MINUTE - 1, policy);
    expect(atEdge.restart).toBe(false);
    // Exactly 5 minutes after the first restart it no longer counts.
    const later = decideRestart(atEdge.restarts, 5 * MINUTE, policy);
    expect(later).toEqual({ restart: true, restarts: [MINUTE, 2 * MINUTE, 5 * MINUTE] });
  });

  it('property: refused exactly when the window is full, so never more than maxRestarts in any window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20 * MINUTE }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 10 * MINUTE }),
        (gaps, maxRestarts, windowMs) => {
          const policy = { maxRestarts, windowMs };
          let now = 0;
          let history: number[] = [];
          const restartedAt: number[] = [];
          for (const gap of gaps) {
            now += gap;
            const decision = decideRestart(history, now, policy);
            history = decision.restarts;
            const recent = restartedAt.filter((at) => now - at < windowMs).length;
            // Refused exactly when the window already holds maxRestarts restarts.
            expect(decision.restart).toBe(recent < maxRestarts);
            if (decision.restart) restartedAt.push(now);
          }
          for (const start of restartedAt) {
            const inWindow = restartedAt.filter((at) => at >= start && at - start < windowMs);
            expect(inWindow.length).toBeLessThanOrEqual(maxRestarts);
          }
        },
      ),
    );
  });
});
