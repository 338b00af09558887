import { connect, createServer, type Socket } from "node:net";

/**
 * A loopback TCP relay in front of researchers that come and go: node processes are pointed at the
 * gate before any researcher listens, their connections wait in it (no refused connection, so no
 * retry backoff), and `open(url)` sends them, byte for byte, to the researcher that just started.
 * Nodes then connect within moments of the researcher's `listening` event, however long they took
 * to start. A connection the researcher does not take (it has exited) waits for the next `open`.
 */
export interface Gate {
  /** The port nodes connect to (127.0.0.1). */
  port: number;
  /** Sends waiting and future connections to the researcher at `url` (http:// or https://). */
  open(url: string): void;
  /** Holds new connections again (the researcher stopped); connections already through are unaffected. */
  shut(): void;
  close(): Promise<void>;
}

export async function createGate(): Promise<Gate> {
  let target: { host: string; port: number } | undefined;
  const waiting = new Set<Socket>();
  const open = new Set<Socket>();

  const forward = (socket: Socket, to: { host: string; port: number }) => {
    const upstream = connect(to);
    let through = false;
    open.add(upstream);
    upstream.once("close", () => open.delete(upstream));
    upstream.once("connect", () => {
      through = true;
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.once("close", () => upstream.destroy());
      upstream.once("close", () => socket.destroy());
    });
    upstream.on("error", () => {
      if (through) return socket.destroy();
      // Nobody listens there any more: the connection waits for the next researcher, its bytes unread.
      if (target === to) target = undefined;
      if (!socket.destroyed) admit(socket);
    });
  };

  const admit = (socket: Socket) => {
    if (target) forward(socket, target);
    else {
      waiting.add(socket);
      socket.once("close", () => waiting.delete(socket));
    }
  };

  const server = createServer({ pauseOnConnect: true }, (socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
    admit(socket);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));

  return {
    port: (server.address() as { port: number }).port,
    open(url) {
      const { hostname, port } = new URL(url);
      target = { host: hostname.replace(/^\[|\]$/g, ""), port: Number(port) };
      const held = [...waiting];
      waiting.clear();
      for (const socket of held) if (!socket.destroyed) forward(socket, target);
    },
    shut() {
      target = undefined;
    },
    async close() {
      target = undefined;
      const closed = new Promise((done) => server.close(done));
      for (const socket of [...waiting, ...open]) socket.destroy();
      await closed;
    },
  };
}
