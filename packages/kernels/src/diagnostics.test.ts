import { describe, expect, it } from 'vitest';
import { decisiveLines, hideHostPaths } from './diagnostics.js';

describe('decisiveLines', () => {
  it("picks pip's error lines, not the notices around them", () => {
    const pip = [
      'Looking in links: /tmp/wheels',
      'ERROR: Could not find a version that satisfies the requirement requests>=2 (from versions: none)',
      'ERROR: No matching distribution found for requests>=2',
      '',
      '[notice] A new release of pip is available: 23.0 -> 24.0',
      '[notice] To update, run: pip install --upgrade pip',
    ];
    expect(decisiveLines(pip)).toEqual([
      'ERROR: Could not find a version that satisfies the requirement requests>=2 (from versions: none)',
      'ERROR: No matching distribution found for requests>=2',
    ]);
  });

  it("keeps a traceback's last line, caps the count and the length, falls back to the last line", () => {
    const traceback = [
      'Traceback (most recent call last):',
      '  File "<frozen runpy>", line 198, in _run_module_as_main',
      "ModuleNotFoundError: No module named 'ipykernel'",
    ];
    expect(decisiveLines(traceback, 1)).toEqual([
      "ModuleNotFoundError: No module named 'ipykernel'",
    ]);
    expect(decisiveLines(['a', 'b', 'killed'])).toEqual(['killed']);
    expect(decisiveLines([])).toEqual([]);
    const long = decisiveLines([`error: ${'x'.repeat(1000)}`]);
    expect(long[0]?.length).toBeLessThanOrEqual(301);
  });
});

describe('hideHostPaths', () => {
  it('labels known roots, hides every other absolute path, keeps URLs', () => {
    const text =
      "ERROR: Could not open requirements file: [Errno 2] No such file: '/home/alice/cache/envs/x/req.txt' " +
      'in /srv/work/nb (see https://pypi.org/simple/requests/) path=/etc/passwd';
    expect(
      hideHostPaths(text, [
        { path: '/home/alice', label: '~' },
        { path: '/home/alice/cache', label: '<cache>' },
      ]),
    ).toBe(
      "ERROR: Could not open requirements file: [Errno 2] No such file: '<cache>/envs/x/req.txt' " +
        'in <path> (see https://pypi.org/simple/requests/) path=<path>',
    );
  });
});
