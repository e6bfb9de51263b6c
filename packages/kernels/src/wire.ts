import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Jupyter messaging protocol version spoken by this client. */
export const PROTOCOL_VERSION = '5.3';
export const DELIMITER = '<IDS|MSG>';

export const messageHeaderSchema = z.looseObject({
  msg_id: z.string(),
  msg_type: z.string(),
  session: z.string().optional().default(''),
  username: z.string().optional().default(''),
  date: z.string().optional(),
  version: z.string().optional(),
});
export type MessageHeader = z.infer<typeof messageHeaderSchema>;

const jsonObject = z.record(z.string(), z.unknown());

export interface JupyterMessage<C = Record<string, unknown>> {
  /** Routing identities that preceded the delimiter (the iopub topic for iopub). */
  identities: Buffer[];
  header: MessageHeader;
  /** Empty object when the message has no parent. */
  parentHeader: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

export interface OutgoingMessage {
  msgType: string;
  content: Record<string, unknown>;
  session: string;
  username?: string;
  parentHeader?: Partial<MessageHeader>;
  metadata?: Record<string, unknown>;
  buffers?: Buffer[];
  identities?: Buffer[];
  msgId?: string;
}

function makeHeader(
  msgType: string,
  session: string,
  username = 'runyard',
  msgId?: string,
): MessageHeader {
  return {
    msg_id: msgId ?? randomUUID(),
    msg_type: msgType,
    session,
    username,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION,
  };
}

/** HMAC-SHA256 hex digest over the four JSON frames; an empty key disables signing (spec). */
export function sign(key: string, parts: readonly (Buffer | string)[]): string {
  if (key === '') return '';
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest('hex');
}

/** Constant-time comparison so a forger learns nothing from response timing. */
export function verifySignature(key: string, signature: Buffer, parts: readonly Buffer[]): boolean {
  if (key === '') return signature.length === 0;
  const expected = Buffer.from(sign(key, parts), 'utf8');
  if (signature.length !== expected.length) {
    // Still burn a comparison so length mismatches cost the same as content mismatches.
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(signature, expected);
}

export function serialize(
  message: OutgoingMessage,
  key: string,
): { header: MessageHeader; frames: Buffer[] } {
  const header = makeHeader(message.msgType, message.session, message.username, message.msgId);
  const parts = [
    Buffer.from(JSON.stringify(header)),
    Buffer.from(JSON.stringify(message.parentHeader ?? {})),
    Buffer.from(JSON.stringify(message.metadata ?? {})),
    Buffer.from(JSON.stringify(message.content)),
  ];
  const signature = Buffer.from(sign(key, parts));
  return {
    header,
    frames: [
      ...(message.identities ?? []),
      Buffer.from(DELIMITER),
      signature,
      ...parts,
      ...(message.buffers ?? []),
    ],
  };
}

export type ParseResult =
  | { ok: true; message: JupyterMessage }
  | { ok: false; reason: 'malformed' | 'bad_signature' };

const DELIMITER_BYTES = Buffer.from(DELIMITER);

/**
 * Parses a multipart frame list. The signature is checked before any JSON is parsed, so a
 * tampered or forged message never reaches a handler.
 */
export function parse(frames: readonly Buffer[], key: string): ParseResult {
  const at = frames.findIndex((frame) => frame.equals(DELIMITER_BYTES));
  if (at < 0 || frames.length < at + 6) return { ok: false, reason: 'malformed' };
  const signature = frames[at + 1] as Buffer;
  const parts = frames.slice(at + 2, at + 6) as Buffer[];
  if (!verifySignature(key, signature, parts)) return { ok: false, reason: 'bad_signature' };
  try {
    const [h, p, m, c] = parts.map((part) => JSON.parse(part.toString('utf8')) as unknown);
    const header = messageHeaderSchema.safeParse(h);
    const parent = jsonObject.safeParse(p);
    const metadata = jsonObject.safeParse(m);
    const content = jsonObject.safeParse(c);
    if (!header.success || !parent.success || !metadata.success || !content.success) {
      return { ok: false, reason: 'malformed' };
    }
    return {
      ok: true,
      message: {
        identities: frames.slice(0, at) as Buffer[],
        header: header.data,
        parentHeader: parent.data as Partial<MessageHeader>,
        metadata: metadata.data,
        content: content.data,
        buffers: frames.slice(at + 6) as Buffer[],
      },
    };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}
