import { type PollLoopOptions, runPollLoop, type TaskExecutor } from "../../src/node/serve/poll-loop.js";
import { createHub } from "../../src/researcher/server/hub.js";
import { startServer } from "../../src/researcher/server/server.js";
import {
  createNodeGrpcTransport,
  createResearcherClient,
  createWideSessionManager,
  type ResearcherClient,
} from "../../src/wire/index.js";

/** Answers every task with a ping reply: a node that is only there to connect and poll. */
export const pingExecutor: TaskExecutor = async () => ({ kind: "ping", version: "t", backend: "cpu" });

/**
 * A poll loop as node "n1" (version "t", silent log, 1-s poll window) against `researcherUrl` until
 * `signal` aborts; `options` sets what a test needs beyond that (its executor: a ping reply by default).
 */
export function pollAsN1(
  client: ResearcherClient,
  researcherUrl: string,
  signal: AbortSignal,
  options: Partial<PollLoopOptions> = {},
): Promise<void> {
  return runPollLoop({
    client,
    researcherUrl,
    nodeId: "n1",
    name: "n1",
    version: "t",
    execute: pingExecutor,
    signal,
    log: () => {},
    waitSeconds: 1,
    ...options,
  });
}

/**
 * A researcher's server on 127.0.0.1, port 0 (1-s poll window, unsigned calls allowed) and a client of it
 * as a node connects (a wide-window session, replies up to 16 MiB); the server is closed by `cleanups`.
 */
export async function startLoopbackResearcher(cleanups: (() => Promise<void> | void)[]) {
  const hub = createHub({ pollWindowMs: 1000 });
  const server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true });
  cleanups.push(() => server.close());
  const client = createResearcherClient(
    createNodeGrpcTransport({
      baseUrl: server.url,
      readMaxBytes: 16 << 20,
      sessionManager: createWideSessionManager(server.url),
    }),
  );
  return { hub, server, client };
}
