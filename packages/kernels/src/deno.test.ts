import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { denoFromNpm, findDeno, launchDenoKernel } from './deno.js';
import { processesMentioning, removeRoot, tempRoot } from './test-support/helpers.js';

const root = tempRoot('deno');

afterAll(() => {
  expect(processesMentioning(root)).toEqual([]);
  removeRoot(root);
});

describe('deno kernel', () => {
  it('runs the deno npm binary as a Jupyter kernel in the deno.json directory', async () => {
    const npmDeno = denoFromNpm();
    expect(npmDeno).toBeDefined();
    // With an empty PATH the npm package is the only source.
    expect(findDeno({ env: { PATH: '' } })).toBe(npmDeno);
    const project = join(root, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'deno.json'), '{"imports":{}}\n');
    const kernel = await launchDenoKernel({
      deno: npmDeno as string,
      denoJson: join(project, 'deno.json'),
      runtimeDir: join(root, 'rt'),
      env: { ...process.env, DENO_DIR: join(root, 'deno-dir'), NO_COLOR: '1' },
    });
    try {
      expect(kernel.cachedKernelInfo?.languageInfo.name).toBe('typescript');
      const result = await kernel.execute('console.log("cwd", Deno.cwd()); 40 + 2');
      expect(result.status).toBe('ok');
      expect(result.outputs).toEqual([
        { output_type: 'stream', name: 'stdout', text: `cwd ${project}\n` },
        expect.objectContaining({
          output_type: 'execute_result',
          data: expect.objectContaining({ 'text/plain': '42' }),
        }),
      ]);
      const thrown = await kernel.execute('throw new TypeError("nope")');
      expect(thrown.error).toMatchObject({ ename: 'TypeError', evalue: 'nope' });
    } finally {
      await kernel.shutdown();
    }
  });
});
