/**
 * Helper process of bench/transfer.ts: a node that polls the researcher with the real client and
 * poll loop, and answers each train task with the parameters it received (no training). It tells the
 * parent when a task has fully arrived (with its memory peak while receiving), and its peak since then on request.
 * It polls on a Session call, as nodes run.
 * It receives as `fbm-node serve` does on the kernels path: each task into its experiment's kept buffer
 * (the poll loop's `taskBuffers`), its values copied into memory of the node's own (a fresh array, as
 * `flatParams` does), the buffer given back there (`paramsCopied`), and the copy echoed. Given `--fresh`,
 * each task is received into a fresh buffer, as a round whose buffer was adopted out is (tfjs, SCAFFOLD,
 * secure aggregation, central DP, an echo of the task's own tensors).
 * Usage (from the benchmark): echo-node.ts <researcher url> [--fresh]
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
/**
 * `copiedAt`/`copyCpuMs`: when the copy into the node's own memory was done and what it cost (it is
 * neither leg: the kernels path makes it at the start of training).
 */
export type EchoEvent =
  | { type: "received"; at: number; peak: MemoryFigures; cpuMs: number; copiedAt: number; copyCpuMs: number }
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

const echo: TaskExecutor = async (task, context) => {
  const at = performance.timeOrigin + performance.now();
  // The peak while the task arrived; from here on, the peak while the echo goes back.
  const peak = sampler.peak();
  const cpuMs = cpuSince();
  if (task.body.kind !== "train") {
    await toParent({ type: "received", at, peak, cpuMs, copiedAt: at, copyCpuMs: 0 });
    return { kind: "error", code: "invalid_input", message: `echo node ignores ${task.body.kind} tasks` };
  }
  // As the kernels path: the values copied into the node's own memory, then the task's buffer given back.
  const params = task.body.params.map((p) => ({ ...p, shape: [...p.shape], data: p.data.slice() }));
  context.paramsCopied?.();
  const copiedAt = performance.timeOrigin + performance.now();
  const copyCpuMs = cpuSince();
  sampler.reset();
  await toParent({ type: "received", at, peak, cpuMs, copiedAt, copyCpuMs });
  return { kind: "train", result: { params, sampleCount: 1, trainLoss: 0, seconds: 0 } };
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
  ...(process.argv.includes("--fresh") ? {} : { taskBuffers: createExperimentBuffers() }),
});
sampler.stop();
process.off("message", onCommand);
if (process.connected) process.disconnect();
