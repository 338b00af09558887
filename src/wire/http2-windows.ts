import type http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

/**
 * HTTP/2 flow-control windows sized for parameter streams. The defaults (64 KiB per stream and per
 * connection) make a sender wait for a WINDOW_UPDATE every 32 KiB, which caps a loopback transfer far
 * below what the socket carries. Both sides use these: the researcher's server and the node's client.
 * What a receiver that stops reading (a slow stream, or a reply waiting for a transfer slot) can have
 * buffered is bounded by the stream window, so it is kept at a few chunks, not the model.
 */

/** Per stream: room for a few 1 MiB chunks in flight. */
export const STREAM_WINDOW_BYTES = 4 << 20;
/** Per connection: several streams at full speed. */
export const SESSION_WINDOW_BYTES = 16 << 20;

/** SETTINGS both peers announce (the per-stream window is a setting; the connection's is not). */
export const wideWindowSettings: http2.Settings = { initialWindowSize: STREAM_WINDOW_BYTES };

/** Widens a session's connection-level receive window (Node has no option for it). */
export function widenSession(session: http2.Http2Session): void {
  if (session.destroyed || session.closed) return;
  try {
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  } catch {
    // A session that is closing has no window left to widen.
  }
}

/**
 * Connect's HTTP/2 session manager with the wide windows: its settings on connect, and the connection
 * window widened on the first request of each session.
 */
export function createWideSessionManager(
  url: string,
  nodeOptions: http2.ClientSessionOptions | http2.SecureClientSessionOptions = {},
): Http2SessionManager {
  const widened = new WeakSet<http2.Http2Session>();
  const manager = new Http2SessionManager(url, undefined, {
    ...nodeOptions,
    settings: { ...wideWindowSettings, ...nodeOptions.settings },
  });
  const request = manager.request.bind(manager);
  manager.request = async (...args: Parameters<typeof request>) => {
    const stream = await request(...args);
    const session = stream.session;
    if (session && !widened.has(session)) {
      widened.add(session);
      widenSession(session);
    }
    return stream;
  };
  return manager;
}
