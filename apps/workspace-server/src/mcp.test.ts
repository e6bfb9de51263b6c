import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MCP_TOOLS } from './mcp/tools.js';
import { type Harness, startHarness, TEST_TOKEN } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function connect(token: string | undefined) {
  const client = new Client({ name: 'test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
    requestInit: { headers: token ? { authorization: `Bearer ${token}` } : {} },
  });
  await client.connect(transport);
  return client;
}

describe('MCP over Streamable HTTP at /mcp', () => {
  it('lists every tool, each with an input schema and a description', async () => {
    const client = await connect(TEST_TOKEN);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual([...MCP_TOOLS].sort());
      for (const tool of tools) {
        expect(tool.description?.length).toBeGreaterThan(20);
        expect(tool.inputSchema.type).toBe('object');
      }
      const execute = tools.find((tool) => tool.name === 'execute_code');
      expect(execute?.inputSchema.required).toEqual(['notebook_id', 'code']);
    } finally {
      await client.close();
    }
  });

  it('returns failures as tool errors carrying the code', async () => {
    const client = await connect(TEST_TOKEN);
    try {
      const result = await client.callTool({
        name: 'get_runtime',
        arguments: { notebook_id: 'missing' },
      });
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toEqual({
        error: { code: 'notebook_not_found', message: expect.any(String) },
      });
      const invalid = await client.callTool({ name: 'execute_code', arguments: { code: 1 } });
      expect(invalid.isError).toBe(true);
      // Hostile paths are refused by the runtime's confinement, as typed tool errors.
      for (const path of ['../outside.ipynb', '/etc/passwd', '..\\..\\x.ipynb']) {
        const opened = await client.callTool({ name: 'open_notebook', arguments: { path } });
        expect(opened.isError).toBe(true);
        const code = (opened.structuredContent as { error: { code: string } }).error.code;
        expect(['path_outside_workspace', 'notebook_not_found', 'invalid_request']).toContain(code);
        expect(JSON.stringify(opened)).not.toContain(h.dir);
      }
      const created = await client.callTool({
        name: 'create_notebook',
        arguments: { path: '../../escape.ipynb' },
      });
      expect(created.structuredContent).toMatchObject({
        error: { code: 'path_outside_workspace' },
      });
    } finally {
      await client.close();
    }
  });

  it('needs the bearer token', async () => {
    await expect(connect(undefined)).rejects.toThrow();
    await expect(connect('wrong-token-0123456789')).rejects.toThrow();
    const raw = await fetch(`${h.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(raw.status).toBe(401);
  });

  it('GET and DELETE are refused: the endpoint is stateless', async () => {
    const response = await h.api('/mcp');
    expect(response.status).toBe(405);
  });
});
