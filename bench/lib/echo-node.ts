/**
 * Helper process of bench/transfer.ts: a node that polls the researcher with the real client and
 * poll loop, and answers each train task with the parameters it received (no training). It tells the
 * parent when a task has fully arrived (with its memory peak while receiving), and its peak since then on request.
 * It polls on a Session call, as nodes will run.
 * It receives each task into a fresh buffer, as `fbm-node serve` does; given `--pooled`, into buffers kept
 * between tasks (the poll loop's `taskBuffers`: it keeps nothing of a task once its echo is sent).
 * Usage (from the benchmark): echo-node.ts <researcher url> [--pooled]
 */
import { runPollLoop, type TaskExecutor } from "../../src/node/serve/poll-loop.js";
import {
  createExperimentBuffers,
  createNodeGrpcTransport,
  createResearcherClient,
  createWideSessionManager,
} from "../../src/wire/index.js";
import { toParent } from "./child.js";
import { createMemorySampler, type MemoryFigures } from "./memory.js";

/** Messages from the parent. */
export type EchoCommand = { type: "reset" } | { type: "report" } | { type: "stop" };
/** Messages to the parent; `at` is epoch milliseconds (performance.timeOrigin + now), comparable across processes. */
/** `cpuMs`: this process's CPU (user + system) while the task arrived, and while the echo went back. */
export type EchoEvent =
  | { type: "received"; at: number; peak: MemoryFigures; cpuMs: number }
  | { type: "peaks"; peak: MemoryFigures; cpuMs: number };

const baseUrl = process.argv[2];
// The node's own limit on one message and its transport (src/node/serve/transport.ts), unsigned.
const readMaxBytes = 16 * 1024 * 1024;
const client = createResearcherClient(
  createNodeGrpcTransport({ baseUrl, readMaxBytes, sessionManager: createWideSessionManager(baseUrl) }),
);
const sampler = createMemorySampler({ intervalMs: 50 });
const stop = new AbortController();
let cpuFrom = process.cpuUsage();
/** CPU milliseconds since the last call (or the last reset). */
const cpuSince = () => {
  const used = process.cpuUsage(cpuFrom);
  cpuFrom = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

const echo: TaskExecutor = async (task) => {
  const at = performance.timeOrigin + performance.now();
  // The peak while the task arrived; from here on, the peak while the echo goes back.
  const peak = sampler.peak();
  sampler.reset();
  await toParent({ type: "received", at, peak, cpuMs: cpuSince() });
  if (task.body.kind !== "train")
    return { kind: "error", code: "invalid_input", message: `echo node ignores ${task.body.kind} tasks` };
  return { kind: "train", result: { params: task.body.params, sampleCount: 1, trainLoss: 0, seconds: 0 } };
};

const onCommand = (command: EchoCommand) => {
  if (command.type === "reset") {
    sampler.reset();
    cpuSince();
  } else if (command.type === "report") void toParent({ type: "peaks", peak: sampler.peak(), cpuMs: cpuSince() });
  else stop.abort();
};
process.on("message", onCommand);
// Stop with the benchmark, even when it dies without saying so.
process.once("disconnect", () => stop.abort());

await runPollLoop({
  client,
  researcherUrl: baseUrl,
  nodeId: "bench-node",
  name: "bench-node",
  version: "bench",
  execute: echo,
  signal: stop.signal,
  log: () => {},
  waitSeconds: 5,
  // How nodes will run (issue 29): tasks and replies on one Session call.
  sessions: true,
  ...(process.argv.includes("--pooled") ? { taskBuffers: createExperimentBuffers() } : {}),
});
sampler.stop();
process.off("message", onCommand);
if (process.connected) process.disconnect();
