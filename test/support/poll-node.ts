import { type PollLoopOptions, runPollLoop, type TaskExecutor } from "../../src/node/serve/poll-loop.js";
import type { ResearcherClient } from "../../src/wire/index.js";

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
