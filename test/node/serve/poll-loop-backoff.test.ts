import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { RECONNECT_BACKOFF, runPollLoop } from "../../../src/node/serve/poll-loop.js";
import type { ResearcherClient } from "../../../src/wire/index.js";

describe("poll loop: reconnecting to a researcher that is down", () => {
  it("waits at most 5 s between attempts however long the researcher stays down", async () => {
    mock.method(Math, "random", () => 0.9999); // the largest jitter
    const controller = new AbortController();
    const delays: number[] = [];
    const lines: string[] = [];
    const refused = () => ({
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          throw new Error("connect ECONNREFUSED 127.0.0.1:50051");
        },
      }),
    });
    // The node opens a Session by default; a refused connection fails it like a poll.
    const client = {
      tasks: refused,
      session: () => ({ tasks: refused(), reply: async () => undefined }),
    } as unknown as ResearcherClient;
    try {
      await runPollLoop({
        client,
        researcherUrl: "http://127.0.0.1:50051",
        nodeId: "n1",
        name: "hospital-a",
        version: "test",
        execute: async () => ({ kind: "error", code: "internal", message: "unused" }),
        signal: controller.signal,
        log: (line) => lines.push(line),
        // 20 failed attempts: doubling from ½ s, uncapped, would pass 5 s at the 5th and reach days.
        sleep: async (ms) => {
          delays.push(ms);
          if (delays.length === 20) controller.abort();
        },
      });
    } finally {
      mock.restoreAll();
    }
    assert.equal(RECONNECT_BACKOFF.maxMs, 5_000);
    assert.ok(delays[0] < 1_000, `first retry after ${delays[0]} ms`);
    assert.ok(
      delays.every((ms) => ms <= 5_000),
      `delays ${delays.map(Math.round).join(", ")}`,
    );
    assert.equal(delays[19], 5_000);
    assert.equal(lines.filter((l) => l.includes("not reachable")).length, 1, "said once per outage");
    assert.match(lines[0], /ECONNREFUSED.*retrying with backoff up to 5 s/);
  });
});
