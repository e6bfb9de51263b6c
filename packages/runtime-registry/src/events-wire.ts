/**
 * The one `/v1/events` message that is not a `RuntimeEvent`: sent once the server's
 * subscription is live, so a client knows from when on it misses nothing.
 */
export const EVENTS_READY_MESSAGE = { type: 'subscribed' } as const;
