// Part 1: fuzzing every REST route (read from the server's own OpenAPI document, so a new
// route is covered without touching this file), every MCP tool (listed by the server) and the
// WebSocket on /api/events, with hostile input, against a running `runyard serve`.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import fc from 'fast-check';
import WebSocket from 'ws';
import { checkHttpAnswer, isErrorShape, leakIn, type Problem, secretsOf } from './check.js';
import {
  bodyText,
  conforming,
  contentType,
  hostileString,
  hostileValue,
  type JsonSchema,
  mutated,
  pathSegment,
  safeEncode,
  toJson,
} from './gen.js';
import { api, apiOk, raw } from './http.js';
import type { PartResult, Row } from './report.js';
import { row } from './report.js';
import type { Context } from './run.js';
import {
  makeDirs,
  newToken,
  openFds,
  processesMentioning,
  type Running,
  rssMiB,
  startServer,
} from './server.js';

const PART = 'fuzz';
const OVERSIZE = 2 * 1024 * 1024 + 1024;

interface Operation {
  method: string;
  /** OpenAPI template, e.g. /api/notebooks/{id}. */
  path: string;
  pathParams: { name: string; schema: JsonSchema }[];
  queryParams: { name: string; schema: JsonSchema; required: boolean }[];
  body?: JsonSchema;
}

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { in: string; name: string; required?: boolean; schema: JsonSchema }[];
        requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
      }
    >
  >;
}

export function operationsOf(doc: OpenApi): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(methods)) {
      const params = op.parameters ?? [];
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: params
          .filter((p) => p.in === 'path')
          .map((p) => ({ name: p.name, schema: p.schema })),
        queryParams: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        ...(op.requestBody
          ? { body: op.requestBody.content?.['application/json']?.schema ?? {} }
          : {}),
      });
    }
  return ops;
}

/** Counts answers by status and keeps a few examples of each problem kind. */
class Tally {
  readonly statuses = new Map<string, number>();
  readonly problems = new Map<string, number>();
  readonly examples: { kind: string; detail: string }[] = [];
  cases = 0;

  status(key: string): void {
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }

  add(problems: Problem[], context: string): void {
    for (const p of problems) {
      this.problems.set(p.kind, (this.problems.get(p.kind) ?? 0) + 1);
      if (this.examples.filter((e) => e.kind === p.kind).length < 5)
        this.examples.push({ kind: p.kind, detail: `${context}: ${p.detail}`.slice(0, 600) });
    }
  }

  count(kind: string): number {
    return this.problems.get(kind) ?? 0;
  }
}

interface Seeds {
  notebookIds: string[];
}

async function seed(server: Running): Promise<Seeds> {
  const ids: string[] = [];
  const named = await apiOk<{ notebookId: string }>(server, 'POST', '/api/notebooks', {
    path: 'seed.ipynb',
  });
  ids.push(named.notebookId);
  const ephemeral = await apiOk<{ notebookId: string }>(server, 'POST', '/api/notebooks', {});
  ids.push(ephemeral.notebookId);
  return { notebookIds: ids };
}

/** Shuts down every notebook the fuzzer created (keeps the kernel count bounded), re-seeds. */
async function tidy(server: Running, seeds: Seeds): Promise<void> {
  const list = await apiOk<{ notebooks: { notebookId: string; lifecycle: string }[] }>(
    server,
    'GET',
    '/api/notebooks',
  );
  for (const nb of list.notebooks)
    if (!seeds.notebookIds.includes(nb.notebookId) && nb.lifecycle !== 'shutdown')
      await api(server, 'DELETE', `/api/notebooks/${nb.notebookId}`);
  const alive = new Set(
    list.notebooks.filter((n) => n.lifecycle !== 'shutdown').map((n) => n.notebookId),
  );
  if (!seeds.notebookIds.every((id) => alive.has(id))) {
    for (const id of seeds.notebookIds) await api(server, 'DELETE', `/api/notebooks/${id}`);
    const fresh = await apiOk<{ notebookId: string }>(server, 'POST', '/api/notebooks', {});
    seeds.notebookIds = [fresh.notebookId];
  }
}

interface RestCase {
  op: number;
  path: string;
  query: string;
  body?: string;
  contentType: string;
  auth: 'bearer' | 'none' | 'wrong';
}

function restCases(ops: Operation[], seeds: Seeds): fc.Arbitrary<RestCase> {
  return fc.nat(ops.length - 1).chain((index) => {
    const op = ops[index] as Operation;
    const segment = (name: string, schema: JsonSchema) =>
      fc.oneof(
        {
          weight: name === 'id' && op.path.startsWith('/api/notebooks') ? 3 : 0,
          arbitrary: fc.constantFrom(...seeds.notebookIds),
        },
        {
          weight: name === 'id' && op.path.startsWith('/api/runtimes') ? 3 : 0,
          arbitrary: fc.constant('local'),
        },
        { weight: 2, arbitrary: conforming(schema).map((v) => safeEncode(String(v))) },
        { weight: 3, arbitrary: pathSegment },
      );
    const path = fc.tuple(...op.pathParams.map((p) => segment(p.name, p.schema))).map((values) => {
      let out = op.path;
      op.pathParams.forEach((p, i) => {
        out = out.replace(`{${p.name}}`, values[i] ?? '');
      });
      return out;
    });
    const query = fc
      .tuple(
        ...op.queryParams.map((p) =>
          fc.option(
            fc
              .oneof(conforming(p.schema), hostileString)
              .map((v) => `${p.name}=${safeEncode(String(v))}`),
            {
              freq: p.required ? 10 : 2,
            },
          ),
        ),
        fc.option(
          fc
            .tuple(hostileString, hostileString)
            .map(([k, v]) => `${safeEncode(k.slice(0, 100))}=${safeEncode(v.slice(0, 1000))}`),
          { freq: 4 },
        ),
      )
      .map((parts) => parts.filter((p): p is string => p !== null).join('&'));
    const body =
      op.body !== undefined || op.method === 'POST'
        ? fc.oneof(
            { weight: 30, arbitrary: bodyText(op.body) },
            // Just over the 2 MiB body limit.
            { weight: 1, arbitrary: fc.constant(`{"a":"${'x'.repeat(OVERSIZE)}"}`) },
          )
        : fc.option(bodyText(undefined), { freq: 10 }).map((b) => b ?? undefined);
    return fc.record({
      op: fc.constant(index),
      path,
      query,
      body,
      contentType,
      auth: fc.oneof(
        { weight: 30, arbitrary: fc.constant('bearer' as const) },
        { weight: 1, arbitrary: fc.constantFrom('none' as const, 'wrong' as const) },
      ),
    });
  });
}

async function runRest(
  server: Running,
  ops: Operation[],
  seeds: Seeds,
  cases: number,
  seedValue: number,
  secrets: string[],
): Promise<Tally> {
  const tally = new Tally();
  const batch = 100;
  for (let done = 0; done < cases; done += batch) {
    const samples = fc.sample(restCases(ops, seeds), {
      numRuns: Math.min(batch, cases - done),
      seed: seedValue + done,
    });
    await pool(samples, 4, async (c) => {
      const op = ops[c.op] as Operation;
      const headers: Record<string, string> = {};
      if (c.auth === 'bearer') headers.authorization = `Bearer ${server.token}`;
      if (c.auth === 'wrong') headers.authorization = 'Bearer wrong-token-0000000000000000';
      if (c.body !== undefined && c.contentType) headers['content-type'] = c.contentType;
      if (op.path === '/mcp') headers.accept = 'application/json, text/event-stream';
      const target = c.query ? `${c.path}?${c.query}` : c.path;
      const answer = await raw(server.url, op.method, target, {
        headers,
        ...(c.body !== undefined ? { body: c.body } : {}),
        timeoutMs: 120_000,
      });
      tally.cases++;
      const where = `${op.method} ${op.path} (sent ${target.slice(0, 160)}, body ${String(c.body).slice(0, 120)})`;
      // Node's HTTP parser refuses a request line + headers over 16 KiB (431, or a closed
      // connection) before any route runs: expected, counted apart.
      const hugeHead = target.length > 16_000;
      if (answer.transportError) {
        // An oversized body may be answered 413 and the connection closed before the upload ends.
        const oversized = (c.body !== undefined && c.body.length > OVERSIZE) || hugeHead;
        tally.status(oversized ? 'closed (oversize)' : 'transport error');
        if (!oversized) tally.add([{ kind: 'transport', detail: answer.transportError }], where);
        return;
      }
      tally.status(String(answer.status));
      const problems = checkHttpAnswer(answer.status, answer.text, secrets, op.path === '/mcp');
      tally.add(problems, where);
      // Without a valid token: anything but a refusal is a bypass. A refusal other than 401
      // (the router's 400/414 for an overlong parameter, 413, 431 run before the auth hook)
      // reveals nothing and is counted apart.
      if (c.auth !== 'bearer' && answer.status < 400)
        tally.add(
          [{ kind: 'auth', detail: `answered ${answer.status} without a valid token` }],
          where,
        );
      else if (c.auth !== 'bearer' && answer.status !== 401)
        tally.status(`refused ${answer.status} before auth`);
    });
    if (!server.alive()) break;
    await tidy(server, seeds);
  }
  return tally;
}

async function pool<T>(items: T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await run(item);
      }
    }),
  );
}

interface Tool {
  name: string;
  inputSchema: JsonSchema;
}

async function connectMcp(server: Running): Promise<Client> {
  const client = new Client({ name: 'runyard-reliability', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${server.token}` } },
    }),
  );
  return client;
}

const MCP_METHODS = [
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'prompts/list',
  'notifications/initialized',
  'logging/setLevel',
  'completion/complete',
];

async function runMcp(
  server: Running,
  seeds: Seeds,
  cases: number,
  seedValue: number,
  secrets: string[],
): Promise<Tally & { tools: string[] }> {
  const tally = Object.assign(new Tally(), { tools: [] as string[] });
  const client = await connectMcp(server);
  const { tools } = (await client.listTools()) as { tools: Tool[] };
  tally.tools = tools.map((t) => t.name);
  const idArg = fc.oneof(fc.constantFrom(...seeds.notebookIds), hostileString);
  const toolCase = fc.nat(tools.length - 1).chain((i) => {
    const tool = tools[i] as Tool;
    const withId = (value: unknown) =>
      fc
        .tuple(fc.constant(value), idArg)
        .map(([v, id]) =>
          typeof v === 'object' && v !== null && !Array.isArray(v) && 'notebook_id' in v
            ? { ...v, notebook_id: id }
            : v,
        );
    return fc.record({
      kind: fc.constant('tool' as const),
      name: fc.oneof(
        { weight: 20, arbitrary: fc.constant(tool.name) },
        { weight: 1, arbitrary: hostileString },
      ),
      args: fc.oneof(
        { weight: 4, arbitrary: conforming(tool.inputSchema).chain(withId) },
        { weight: 3, arbitrary: mutated(tool.inputSchema) },
        { weight: 1, arbitrary: hostileValue },
      ),
    });
  });
  const rpcCase = fc.record({
    kind: fc.constant('rpc' as const),
    body: fc.oneof(
      fc
        .record({
          jsonrpc: fc.oneof(
            { weight: 5, arbitrary: fc.constant('2.0') },
            { weight: 1, arbitrary: hostileValue },
          ),
          id: fc.oneof(fc.integer(), hostileString, hostileValue),
          method: fc.oneof(fc.constantFrom(...MCP_METHODS), hostileString),
          params: hostileValue,
        })
        .map(toJson),
      fc
        .array(
          fc.record({
            jsonrpc: fc.constant('2.0'),
            id: fc.nat(),
            method: fc.constantFrom(...MCP_METHODS),
          }),
          {
            maxLength: 50,
          },
        )
        .map(toJson),
      bodyText(undefined),
    ),
    accept: fc.constantFrom(
      'application/json, text/event-stream',
      'application/json',
      'text/html',
      '',
    ),
  });
  const arb = fc.oneof({ weight: 4, arbitrary: toolCase }, { weight: 1, arbitrary: rpcCase });
  const batch = 100;
  for (let done = 0; done < cases; done += batch) {
    const samples = fc.sample(arb, {
      numRuns: Math.min(batch, cases - done),
      seed: seedValue + done,
    });
    await pool(samples, 4, async (c) => {
      tally.cases++;
      if (c.kind === 'rpc') {
        const headers: Record<string, string> = {
          authorization: `Bearer ${server.token}`,
          'content-type': 'application/json',
        };
        if (c.accept) headers.accept = c.accept;
        const answer = await raw(server.url, 'POST', '/mcp', {
          headers,
          body: c.body,
          timeoutMs: 120_000,
        });
        const where = `raw JSON-RPC ${c.body.slice(0, 160)}`;
        if (answer.transportError) {
          tally.status('transport error');
          tally.add([{ kind: 'transport', detail: answer.transportError }], where);
          return;
        }
        tally.status(`http ${answer.status}`);
        tally.add(checkHttpAnswer(answer.status, answer.text, secrets, true), where);
        return;
      }
      const where = `tool ${c.name.slice(0, 60)} ${toJson(c.args).slice(0, 200)}`;
      try {
        const result = (await client.callTool(
          { name: c.name, arguments: c.args as Record<string, unknown> },
          undefined,
          { timeout: 120_000 },
        )) as { isError?: boolean; structuredContent?: unknown; content?: unknown };
        const text = JSON.stringify(result);
        const leak = leakIn(text, secrets);
        if (leak)
          tally.add([{ kind: 'leak', detail: `result contains ${JSON.stringify(leak)}` }], where);
        if (result.isError) {
          // Argument validation failures are plain text results from the SDK; runtime failures
          // carry the typed error as structured content.
          const typed = isErrorShape(result.structuredContent);
          tally.status(typed ? 'tool error (typed)' : 'tool error (validation text)');
          const code = (result.structuredContent as { error?: { code?: string } } | undefined)
            ?.error?.code;
          if (code === 'internal_error')
            tally.add([{ kind: 'internal_error', detail: text.slice(0, 300) }], where);
        } else tally.status('tool ok');
      } catch (error) {
        const message = (error as Error).message;
        const code = (error as { code?: unknown }).code;
        // JSON-RPC errors (invalid params, unknown tool) are answers; so is a typed 4xx (a
        // `__proto__` key is refused by the body parser before MCP sees it). HTTP 5xx and
        // dropped connections are not.
        if (
          typeof code === 'number' &&
          code >= 400 &&
          code < 500 &&
          message.includes('{"error":{"code"')
        ) {
          tally.status(`http ${code} (typed)`);
        } else if (code === -32603 && message.includes('"arguments"')) {
          // The MCP SDK answers non-object `arguments` with -32603 (internal error) and the zod
          // issues instead of -32602 (invalid params): recorded as a finding, not a crash.
          tally.status('json-rpc -32603 for non-object arguments');
          tally.add([{ kind: 'sdk-32603', detail: message.slice(0, 200) }], where);
        } else if (typeof code === 'number' && code > -32700 && code <= -32000 && code !== -32603) {
          tally.status(`json-rpc error ${code}`);
          const leak = leakIn(message, secrets);
          if (leak)
            tally.add([{ kind: 'leak', detail: `error contains ${JSON.stringify(leak)}` }], where);
        } else {
          tally.status('failed');
          tally.add(
            [
              {
                kind: code === -32603 ? 'internal_error' : 'transport',
                detail: message.slice(0, 300),
              },
            ],
            where,
          );
        }
      }
    });
    if (!server.alive()) break;
    await tidy(server, seeds);
  }
  await client.close();
  return tally;
}

/** Opens an /api/events socket; resolves once open (or with the close code if refused). */
function openSocket(server: Running, query = '', headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/events${query}`, {
    headers: { authorization: `Bearer ${server.token}`, ...headers },
    maxPayload: 64 * 1024 * 1024,
  });
  const opened = new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('error', () => resolve());
    ws.once('close', () => resolve());
  });
  return { ws, opened };
}

async function runWs(
  server: Running,
  cases: number,
  seedValue: number,
  secrets: string[],
): Promise<Tally> {
  const tally = new Tally();
  const message = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record({
          type: fc.constantFrom('subscribe', 'unsubscribe'),
          topics: fc.array(fc.constantFrom('lifecycle', 'env', 'outputs', 'workers', 'skills'), {
            minLength: 1,
            maxLength: 5,
          }),
        })
        .map(toJson),
    },
    {
      weight: 3,
      arbitrary: mutated({
        type: 'object',
        properties: {
          type: { enum: ['subscribe', 'unsubscribe'] },
          topics: {
            type: 'array',
            items: { enum: ['lifecycle', 'env', 'outputs', 'workers', 'skills'] },
          },
        },
        required: ['type', 'topics'],
      }).map(toJson),
    },
    { weight: 3, arbitrary: bodyText(undefined) },
  );
  const wsCase = fc.oneof(
    { weight: 20, arbitrary: fc.record({ kind: fc.constant('text' as const), data: message }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('binary' as const),
        data: fc.uint8Array({ maxLength: 5000 }),
      }),
    },
    // Bytes that are not UTF-8 in a text frame: the peer must close 1007, not crash.
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('badutf8' as const),
        data: fc.constant(Buffer.from([0xff, 0xfe, 0x80])),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('connect' as const),
        query: hostileString.map((s) => `?topics=${safeEncode(s.slice(0, 5000))}`),
      }),
    },
  );
  const width = 4;
  const sockets = await Promise.all(Array.from({ length: width }, () => reopen()));
  const closeCodes = new Map<number, number>();
  async function reopen(query = ''): Promise<WebSocket> {
    const { ws, opened } = openSocket(server, query);
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      const leak = leakIn(text, secrets);
      if (leak)
        tally.add(
          [{ kind: 'leak', detail: `message contains ${JSON.stringify(leak)}` }],
          'ws message',
        );
      let parsed: { type?: string; error?: unknown };
      try {
        parsed = JSON.parse(text);
      } catch {
        tally.add([{ kind: 'not-json', detail: text.slice(0, 200) }], 'ws message');
        return;
      }
      tally.status(`msg ${parsed.type}`);
      if (parsed.type === 'error') {
        if (!isErrorShape(parsed))
          tally.add([{ kind: 'error-shape', detail: text.slice(0, 200) }], 'ws error');
        if ((parsed.error as { code?: string }).code === 'internal_error')
          tally.add([{ kind: 'internal_error', detail: text.slice(0, 200) }], 'ws error');
      }
    });
    ws.on('close', (code: number) => {
      closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
      if (code === 1011)
        tally.add([{ kind: 'ws-1011', detail: 'closed with internal error' }], 'ws close');
    });
    ws.on('error', () => {});
    await opened;
    return ws;
  }
  const batch = 100;
  for (let done = 0; done < cases; done += batch) {
    const samples = fc.sample(wsCase, {
      numRuns: Math.min(batch, cases - done),
      seed: seedValue + done,
    });
    let i = 0;
    for (const c of samples) {
      tally.cases++;
      const slot = i++ % width;
      let ws = sockets[slot] as WebSocket;
      if (ws.readyState !== WebSocket.OPEN) {
        ws = await reopen();
        sockets[slot] = ws;
      }
      if (c.kind === 'connect') {
        const extra = await reopen(c.query);
        extra.close();
        continue;
      }
      if (c.kind === 'text') ws.send(c.data);
      else if (c.kind === 'binary') ws.send(c.data, { binary: true });
      else ws.send(c.data, { binary: false });
    }
    // A round trip on every socket: the server has read everything sent so far.
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState !== WebSocket.OPEN) return resolve();
            const timer = setTimeout(resolve, 30_000);
            const done = () => {
              clearTimeout(timer);
              resolve();
            };
            // A socket the server closed (1007, 1009) answers no ping.
            ws.once('pong', done);
            ws.once('close', done);
            ws.ping();
          }),
      ),
    );
    if (!server.alive()) break;
  }
  for (const ws of sockets) ws.close();
  for (const [code, n] of closeCodes) tally.status(`close ${code} ×${n}`);
  return tally;
}

export async function fuzzPart(ctx: Context): Promise<PartResult> {
  const rows: Row[] = [];
  const examples: { kind: string; detail: string }[] = [];
  const root = ctx.tempDir('fuzz');
  const dirs = makeDirs(root);
  const token = newToken();
  const server = await startServer(dirs, token);
  const secrets = secretsOf(token, root);
  const casesPerSurface = ctx.sizes.cases ?? (ctx.smoke ? 200 : 10_000);
  const data: Record<string, unknown> = {};
  try {
    const doc = await apiOk<OpenApi>(server, 'GET', '/api/openapi.json');
    const ops = operationsOf(doc);
    const seeds = await seed(server);
    // Settle: the first answers load code paths; measure from here.
    await sleep(500);
    const rssStart = rssMiB(server.pid) ?? 0;
    const fdsStart = openFds(server.pid) ?? 0;
    const surfaces: [string, () => Promise<Tally>][] = [
      ['REST', () => runRest(server, ops, seeds, casesPerSurface, ctx.seed, secrets)],
      ['MCP', () => runMcp(server, seeds, casesPerSurface, ctx.seed + 1_000_000, secrets)],
      ['WebSocket', () => runWs(server, casesPerSurface, ctx.seed + 2_000_000, secrets)],
    ];
    for (const [surface, run] of surfaces) {
      if (!server.alive()) break;
      const started = performance.now();
      const rssBefore = rssMiB(server.pid) ?? 0;
      const tally = await run();
      const seconds = (performance.now() - started) / 1000;
      const crashed = !server.alive();
      const fiveXX = tally.count('5xx') + tally.count('internal_error');
      const shape = tally.count('error-shape') + tally.count('not-json') + tally.count('stack');
      const leaks = tally.count('leak');
      const transport = tally.count('transport') + tally.count('ws-1011') + tally.count('auth');
      const covered =
        surface === 'REST'
          ? `${ops.length} operations from /api/openapi.json`
          : surface === 'MCP'
            ? `${(tally as Tally & { tools: string[] }).tools.length} tools + raw JSON-RPC`
            : 'subscribe/unsubscribe, malformed, binary, bad UTF-8, hostile ?topics=';
      rows.push(
        row(
          PART,
          `${surface}: cases (${covered})`,
          `${tally.cases} in ${seconds.toFixed(0)} s`,
          'info',
        ),
      );
      rows.push(row(PART, `${surface}: crashes`, crashed ? 1 : 0, crashed ? 'fail' : 'pass'));
      if (tally.count('typed-5xx') > 0)
        rows.push(
          row(
            PART,
            `${surface}: documented typed 5xx (504 execution_timeout for a caller's timeoutMs, …)`,
            tally.count('typed-5xx'),
            'info',
          ),
        );
      rows.push(
        row(PART, `${surface}: 5xx / internal_error`, fiveXX, fiveXX === 0 ? 'pass' : 'fail'),
      );
      rows.push(
        row(
          PART,
          `${surface}: error bodies not {error:{code,message}}`,
          shape,
          shape === 0 ? 'pass' : 'fail',
        ),
      );
      rows.push(
        row(
          PART,
          `${surface}: token or host path in an answer`,
          leaks,
          leaks === 0 ? 'pass' : 'fail',
        ),
      );
      rows.push(
        row(
          PART,
          `${surface}: dropped connections / answered without a token`,
          transport,
          transport === 0 ? 'pass' : 'fail',
        ),
      );
      rows.push(
        row(
          PART,
          `${surface}: server RSS before → after`,
          `${rssBefore.toFixed(0)} → ${(rssMiB(server.pid) ?? 0).toFixed(0)} MiB`,
          'info',
        ),
      );
      const findings: [string, string, string][] = [
        [
          'sdk-32603',
          'tools/call with non-object `arguments` answered JSON-RPC -32603 (internal error) with zod issues instead of -32602',
          'MCP SDK behaviour; routes/mcp.ts could pre-validate',
        ],
      ];
      for (const [kind, measure, note] of findings)
        if (tally.count(kind) > 0)
          rows.push(row(PART, `${surface}: ${measure}`, tally.count(kind), 'finding', note));
      examples.push(
        ...tally.examples.map((e) => ({ kind: `${surface} ${e.kind}`, detail: e.detail })),
      );
      data[surface] = {
        cases: tally.cases,
        seconds,
        statuses: Object.fromEntries(tally.statuses),
        problems: Object.fromEntries(tally.problems),
      };
      console.error(
        `  fuzz ${surface}: ${tally.cases} cases, ${JSON.stringify(Object.fromEntries(tally.problems))}`,
      );
    }
    if (server.alive()) {
      // Let closed sockets and stopped kernels be collected before the last reading.
      await sleep(2000);
      const rssEnd = rssMiB(server.pid) ?? 0;
      const fdsEnd = openFds(server.pid) ?? 0;
      const growth = rssEnd - rssStart;
      // Flat: under 100 MiB over the whole run (a leak of even 10 KiB per case over 30,000
      // cases would exceed it).
      rows.push(
        row(
          PART,
          'server RSS start → end (all surfaces)',
          `${rssStart.toFixed(0)} → ${rssEnd.toFixed(0)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(0)})`,
          growth < 100 ? 'pass' : 'fail',
          'bar: growth < 100 MiB',
        ),
      );
      rows.push(
        row(
          PART,
          'server open fds start → end',
          `${fdsStart} → ${fdsEnd}`,
          fdsEnd - fdsStart < 50 ? 'pass' : 'fail',
          'bar: growth < 50',
        ),
      );
      const health = await api(server, 'GET', '/healthz');
      rows.push(
        row(PART, '/healthz after fuzzing', health.status, health.status === 200 ? 'pass' : 'fail'),
      );
      data.rss = { start: rssStart, end: rssEnd };
      data.fds = { start: fdsStart, end: fdsEnd };
    } else {
      examples.push({ kind: 'crash', detail: server.stderr().slice(-3000) });
    }
  } finally {
    await server.stop();
    await sleep(500);
    const left = processesMentioning(root);
    if (left.length > 0) {
      rows.push(
        row(
          PART,
          'processes left after a graceful stop',
          left.length,
          'fail',
          left
            .map((p) => p.cmdline)
            .join('; ')
            .slice(0, 300),
        ),
      );
    }
  }
  return { part: PART, rows, examples, data };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
