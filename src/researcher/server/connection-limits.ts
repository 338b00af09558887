import type http2 from "node:http2";
import type { Server as NetServer, Socket } from "node:net";
import { isLoopbackHost } from "../../common/loopback.js";

/**
 * What a connection may hold of the researcher before it does anything useful. Without these, 500
 * idle sockets (half never sending the HTTP/2 preface) were all kept for 75 s. A connection must open
 * its first call within `firstCallMs` of connecting (which also covers a client that never sends the
 * preface: no call can start without it), a session with no open call for `idleMs` is closed (nodes
 * reconnect on their next poll), and one address may hold at most `perAddress` connections at once
 * (loopback exempt unless `capLoopback`: a simulation runs thousands of nodes on one machine).
 */
export interface ConnectionLimits {
  firstCallMs: number;
  idleMs: number;
  perAddress: number;
  capLoopback: boolean;
}

export const defaultConnectionLimits: ConnectionLimits = {
  firstCallMs: 10_000,
  idleMs: 120_000,
  perAddress: 64,
  capLoopback: false,
};

/** Applies `limits` to `server`; refusals by address are logged once each. */
export function applyConnectionLimits(
  server: http2.Http2Server | http2.Http2SecureServer,
  limits: ConnectionLimits,
  log?: (line: string) => void,
): void {
  const open = new Map<string, number>();
  const warned = new Set<string>();
  const deadlines = new Map<string, NodeJS.Timeout>(); // "address port" -> until the first call
  const sessionOf = new Map<string, http2.ServerHttp2Session>();
  const keyOf = (s: { remoteAddress?: string; remotePort?: number }) => `${s.remoteAddress} ${s.remotePort}`;
  // The raw TCP connection (for TLS servers too: "connection" is the net.Server's event).
  (server as unknown as NetServer).on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.perAddress && (limits.capLoopback || !isLoopbackHost(address))) {
      if (!warned.has(address) && warned.size < 10_000) {
        warned.add(address);
        log?.(`Refused connections from ${address}: it holds ${limits.perAddress} already (the most one address may)`);
      }
      (sessionOf.get(keyOf(socket)) ?? socket).destroy();
      return;
    }
    open.set(address, count);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
    // Until its first call, a connection has `firstCallMs` (then the session's own idle rule applies).
    const key = keyOf(socket);
    // The HTTP/2 session owns the socket once it is made: destroying the session is what closes it.
    const deadline = setTimeout(() => (sessionOf.get(key) ?? socket).destroy(), limits.firstCallMs);
    deadline.unref();
    deadlines.set(key, deadline);
    socket.once("close", () => {
      clearTimeout(deadline);
      if (deadlines.get(key) === deadline) deadlines.delete(key);
    });
  });
  server.on("session", (session: http2.ServerHttp2Session) => {
    const key = session.socket ? keyOf(session.socket) : undefined;
    if (key) sessionOf.set(key, session);
    let streams = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      idle = setTimeout(() => session.close(), limits.idleMs);
      idle.unref();
    };
    session.on("stream", (stream) => {
      if (streams === 0 && session.socket) {
        const key = keyOf(session.socket);
        clearTimeout(deadlines.get(key));
        deadlines.delete(key);
      }
      clearTimeout(idle);
      streams++;
      stream.once("close", () => {
        streams--;
        if (streams === 0) arm();
      });
    });
    session.once("close", () => {
      clearTimeout(idle);
      if (key && sessionOf.get(key) === session) sessionOf.delete(key);
    });
  });
}
