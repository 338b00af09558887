import type http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

/**
 * HTTP/2 flow-control windows sized for parameter streams. The defaults (64 KiB per stream and per
 * connection) make a sender wait for a WINDOW_UPDATE every 32 KiB, which caps a loopback transfer far
 * below what the socket carries. Both sides use these: the researcher's server and the node's client.
 * What a receiver that stops reading (a slow stream) can have buffered is bounded by the stream window,
 * so it is kept at a few chunks; the researcher keeps a reply waiting for a transfer slot narrower still.
 */

/** Per stream: room for a few 1 MiB chunks in flight. */
export const STREAM_WINDOW_BYTES = 4 << 20;
/** Per connection: several streams at full speed. */
export const SESSION_WINDOW_BYTES = 16 << 20;

/** SETTINGS both peers announce (the per-stream window is a setting; the connection's is not). */
export const wideWindowSettings: http2.Settings = { initialWindowSize: STREAM_WINDOW_BYTES };

/**
 * What a node may send on a reply stream the researcher is not reading yet (HTTP/2's default window).
 * Node's http2 acknowledges a stream's bytes only as they are read, so a reply waiting for transfer
 * room holds at most this much: a thousand waiting replies cost 64 MiB, not a thousand models.
 */
export const WAITING_WINDOW_BYTES = 64 << 10;

/** The researcher's SETTINGS: narrow stream windows until a reply is admitted (`widenWhileAdmitted`). */
export const replyWindowSettings: http2.Settings = { initialWindowSize: WAITING_WINDOW_BYTES };

const admittedOn = new WeakMap<http2.Http2Session, number>();

/**
 * Widens the stream windows of a node's session (one per node) while a reply of it has transfer room,
 * so admitted replies run at full speed and waiting ones stay narrow; returns the narrowing.
 * A SETTINGS change moves the windows of the session's open streams too (RFC 9113 §6.9.2).
 */
export function widenWhileAdmitted(session: http2.Http2Session | undefined): () => void {
  if (!session) return () => {};
  const admitted = admittedOn.get(session) ?? 0;
  admittedOn.set(session, admitted + 1);
  if (admitted === 0) setStreamWindow(session, STREAM_WINDOW_BYTES);
  let narrowed = false;
  return () => {
    if (narrowed) return;
    narrowed = true;
    const left = (admittedOn.get(session) ?? 1) - 1;
    admittedOn.set(session, left);
    if (left === 0) setStreamWindow(session, WAITING_WINDOW_BYTES);
  };
}

function setStreamWindow(session: http2.Http2Session, bytes: number): void {
  if (session.destroyed || session.closed) return;
  try {
    session.settings({ initialWindowSize: bytes });
  } catch {
    // Too many SETTINGS not yet acknowledged, or closing: the window stays as it is (slower, or wider).
  }
}

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
