import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * How many bytes of a refused body the server reads and discards after answering 413 before it
 * gives up on the connection (64 MiB: a few seconds on a slow link, nothing on loopback).
 */
export const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Keeps a 413 readable by the client that is still uploading.
 *
 * Fastify refuses an oversized body as soon as the Content-Length (or the bytes read so far)
 * passes the limit, and marks the answer `Connection: close`; Node then closes the socket right
 * after writing the 413 while the client is still sending. The client's next bytes reach a closed
 * socket, the kernel answers with a reset, and a reset discards whatever the client had not read
 * yet — the 413 included. Node's fetch then reports EPIPE or ECONNRESET instead of the answer,
 * some of the time (more often the larger the body and the busier the machine).
 *
 * So the connection stays open and the rest of the body is read and discarded (never buffered),
 * as HTTP/1.1 servers do to "linger" before closing (RFC 9112 §9.6). Memory stays constant. The
 * bytes read are bounded by `maxDrainBytes`: past them the socket is destroyed — by then the
 * client has long had the time to read the 413 (nginx's lingering close works the same way).
 */
export function drainRefusedBody(
  request: FastifyRequest,
  reply: FastifyReply,
  maxDrainBytes = MAX_DRAIN_BYTES,
): void {
  const raw = request.raw;
  if (raw.complete) return;
  reply.removeHeader('connection');
  let drained = 0;
  const onData = (chunk: Buffer): void => {
    drained += chunk.length;
    if (drained > maxDrainBytes) {
      raw.off('data', onData);
      raw.socket?.destroy();
    }
  };
  // A 'data' listener puts the stream in flowing mode: chunks are counted and dropped.
  raw.on('data', onData);
  raw.once('end', () => raw.off('data', onData));
}
