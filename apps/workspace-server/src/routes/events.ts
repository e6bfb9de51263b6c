import { errorBody } from '@runyard/http';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { EVENT_TOPICS, type EventTopic, EventTopicSchema, type HubEvent } from '../events/hub.js';
import type { WorkspaceServices } from '../services.js';
import { errors, type WorkspaceApp } from './schemas.js';

const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), topics: z.array(EventTopicSchema).min(1).max(5) }),
  z.object({ type: z.literal('unsubscribe'), topics: z.array(EventTopicSchema).min(1).max(5) }),
]);

/** A subscriber that falls this far behind is disconnected rather than buffered forever. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_CLIENT_MESSAGE_BYTES = 4096;

/** The current state of each topic, sent once on subscribe before any event. */
async function snapshot(services: WorkspaceServices, topics: EventTopic[]) {
  const data: Record<string, unknown> = {};
  for (const topic of topics) {
    if (topic === 'lifecycle') {
      data.lifecycle = { notebooks: await services.local().listNotebooks() };
    } else if (topic === 'workers') {
      const workers = [];
      for (const entry of services.registry.list()) {
        try {
          const list = await services.registry.get(entry.id).listWorkers();
          workers.push(...list.map((worker) => ({ runtimeId: entry.id, worker })));
        } catch {
          // An unreachable remote has no snapshot; its health says why.
        }
      }
      data.workers = { workers };
    } else if (topic === 'env') {
      data.env = { pool: await services.local().pool() };
    } else if (topic === 'skills') {
      data.skills = {
        ...services.skills.reconciler.status(),
        configured: services.skills.configured,
      };
    } else {
      data.outputs = {};
    }
  }
  return data;
}

export function parseTopics(raw: string | undefined): EventTopic[] {
  if (raw === undefined || raw === '') return [];
  const parsed = z.array(EventTopicSchema).max(5).safeParse(raw.split(','));
  if (!parsed.success) throw new Error('unknown topic');
  return [...new Set(parsed.data)];
}

export function registerEventRoutes(app: WorkspaceApp, services: WorkspaceServices): void {
  app.get(
    '/api/events',
    {
      websocket: true,
      schema: {
        tags: ['events'],
        summary:
          'WebSocket: send {"type":"subscribe","topics":[...]} (lifecycle, env, outputs, workers, skills) or pass ?topics=; a snapshot per subscription, then events',
        querystring: z.object({
          topics: z.string().max(200).optional(),
          token: z.string().max(4096).optional(),
        }),
        response: errors(403),
      },
    },
    (socket: WebSocket, request) => {
      const subscribed = new Set<EventTopic>();
      /** Topics whose snapshot is being built: their events wait so order is kept. */
      const pending = new Map<EventTopic, HubEvent[]>();
      const send = (message: unknown) => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(1013, 'subscriber too slow');
          return;
        }
        socket.send(JSON.stringify(message));
      };
      const deliver = (event: HubEvent) => {
        const { topic, ...rest } = event;
        send({ type: 'event', topic, ...rest });
      };
      const off = services.events.subscribe((event) => {
        const queue = pending.get(event.topic);
        if (queue) queue.push(event);
        else if (subscribed.has(event.topic)) deliver(event);
      });

      const subscribe = async (topics: EventTopic[]) => {
        const fresh = topics.filter((topic) => !subscribed.has(topic) && !pending.has(topic));
        if (fresh.length === 0) return;
        for (const topic of fresh) pending.set(topic, []);
        let data: Record<string, unknown>;
        try {
          data = await snapshot(services, fresh);
        } catch (error) {
          for (const topic of fresh) pending.delete(topic);
          const code = (error as { code?: unknown }).code;
          send({
            type: 'error',
            ...errorBody(
              typeof code === 'string' ? code : 'internal_error',
              'the snapshot could not be built',
            ),
          });
          return;
        }
        send({ type: 'snapshot', topics: fresh, data });
        for (const topic of fresh) {
          const queued = pending.get(topic) ?? [];
          pending.delete(topic);
          subscribed.add(topic);
          for (const event of queued) deliver(event);
        }
      };

      socket.on('message', (raw: Buffer, isBinary: boolean) => {
        if (isBinary || raw.length > MAX_CLIENT_MESSAGE_BYTES) {
          send({ type: 'error', ...errorBody('invalid_request', 'message too large or binary') });
          return;
        }
        let parsed: z.infer<typeof ClientMessageSchema>;
        try {
          parsed = ClientMessageSchema.parse(JSON.parse(raw.toString('utf8')));
        } catch {
          send({
            type: 'error',
            ...errorBody(
              'invalid_request',
              'expected {"type":"subscribe"|"unsubscribe","topics":["lifecycle"|"env"|"outputs"|"workers"|"skills"]}',
            ),
          });
          return;
        }
        if (parsed.type === 'subscribe') void subscribe(parsed.topics);
        else
          for (const topic of parsed.topics) {
            subscribed.delete(topic);
            pending.delete(topic);
          }
      });
      socket.on('close', off);
      socket.on('error', off);

      const query = request.query as { topics?: string };
      let initial: EventTopic[];
      try {
        initial = parseTopics(query.topics);
      } catch {
        send({ type: 'error', ...errorBody('invalid_request', 'unknown topic in ?topics=') });
        socket.close(1008, 'unknown topic');
        return;
      }
      send({ type: 'hello', topics: [...EVENT_TOPICS] });
      if (initial.length > 0) void subscribe(initial);
    },
  );
}
