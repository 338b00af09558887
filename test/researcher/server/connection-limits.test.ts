import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createHub } from "../../../src/researcher/server/hub.js";
import { startServer } from "../../../src/researcher/server/server.js";
import { createResearcherClient } from "../../../src/wire/index.js";
import { pollAsN1 } from "../../support/poll-node.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));

describe("connection limits at the researcher", { timeout: DEADLINE_MS }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("closes many idle sockets (with and without the HTTP/2 preface) that never start a call; a polling node stays", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const server = await startServer({
      listen: "127.0.0.1:0",
      hub,
      allowUnsignedNodes: true,
      connectionLimits: { firstCallMs: 300, idleMs: 60_000 },
    });
    cleanups.push(() => server.close());
    const stop = new AbortController();
    const loop = pollAsN1(
      createResearcherClient(createGrpcTransport({ baseUrl: server.url })),
      server.url,
      stop.signal,
    );
    cleanups.push(async () => {
      stop.abort();
      await loop;
    });
    await until(() => hub.nodes().some((n) => n.online), "the node to poll");
    const sockets = Array.from({ length: 100 }, (_, i) => {
      const socket = connect(server.port, "127.0.0.1");
      socket.on("error", () => {});
      socket.resume(); // read what the server sends, so its closing is seen
      // Half send the client preface and then nothing; half send nothing at all.
      if (i % 2 === 0) socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      return socket;
    });
    await Promise.all(sockets.map(closed));
    assert.deepEqual(await hub.send("n1", { kind: "ping" }, { timeoutMs: 60_000 }), {
      kind: "ping",
      version: "t",
      backend: "cpu",
    });
  });

  it("refuses connections from one address beyond its cap, logging the address once", async () => {
    const hub = createHub({ pollWindowMs: 1000 });
    const lines: string[] = [];
    const server = await startServer({
      listen: "127.0.0.1:0",
      hub,
      allowUnsignedNodes: true,
      log: (l) => lines.push(l),
      connectionLimits: { perAddress: 2, capLoopback: true, firstCallMs: 60_000 },
    });
    cleanups.push(() => server.close());
    const open = (): Promise<Socket> =>
      new Promise((resolve) => {
        const socket = connect(server.port, "127.0.0.1", () => resolve(socket));
        socket.on("error", () => {});
        socket.resume();
      });
    const kept = [await open(), await open()];
    const refused = [await open(), await open()];
    await Promise.all(refused.map(closed));
    assert.ok(kept.every((s) => !s.destroyed && s.readyState === "open"));
    assert.equal(lines.filter((l) => l.startsWith("Refused connections from 127.0.0.1")).length, 1, lines.join("\n"));
    for (const s of kept) s.destroy();
  });
});
