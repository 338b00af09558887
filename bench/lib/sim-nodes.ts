/**
 * Helper process of bench/scale.ts: `count` simulated nodes in one process, each with its own HTTP/2
 * connection, the real client and the real poll loop, and no tfjs. Each holds one csv dataset with
 * `features` columns plus a target, answers `search` (and a relay's `list`) with it and a `train` task with the parameters
 * it received, nudged by its index (so the aggregate is a real mean, not the model sent back).
 * Nodes start in waves of WAVE: a wave's loops start once every node of the one before has its call
 * open, so a process of 1,250 nodes does not open 1,250 connections at once (under load their
 * handshakes then outlast the researcher's 10 s for a first call, and they reconnect over and over:
 * 5,000 nodes never all registered within 600 s). What each node then does is the real node's.
 * Usage (from the benchmark): sim-nodes.ts <researcher url> <first index> <count> <features> [session|calls]
 */
import { setMaxListeners } from "node:events";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { runPollLoop, type TaskExecutor } from "../../src/node/serve/poll-loop.js";
import { createResearcherClient, createWideSessionManager, type DatasetInfo } from "../../src/wire/index.js";
import { toParent } from "./child.js";

/** Messages to the parent. */
export type SimEvent = { type: "started"; count: number };

const [baseUrl, firstArg, countArg, featuresArg, mode] = process.argv.slice(2);
const first = Number(firstArg);
const count = Number(countArg);
const features = Number(featuresArg);
const stop = new AbortController();
setMaxListeners(0, stop.signal); // every simulated node listens to it
process.once("disconnect", () => stop.abort());

function dataset(index: number): DatasetInfo {
  return {
    id: `d${index}`,
    name: `sim-${index}`,
    type: "csv",
    tags: ["scale"],
    description: "",
    shape: [100, features + 1],
    columns: [
      ...Array.from({ length: features }, (_, i) => ({ name: `f${i}`, dtype: "float" })),
      { name: "y", dtype: "float" },
    ],
    sampleCount: 100,
    classes: [],
    target: "y",
    createdAt: "2026-01-01T00:00:00Z",
  };
}

function executor(index: number): TaskExecutor {
  return async (task) => {
    const body = task.body;
    if (body.kind === "search" || body.kind === "list") return { kind: "datasets", datasets: [dataset(index)] };
    if (body.kind !== "train")
      return { kind: "error", code: "invalid_input", message: `sim node ignores ${body.kind}` };
    const params = body.params.map((t) => {
      const data = new Float32Array(t.data);
      data[0] += index % 7;
      return { ...t, data };
    });
    return { kind: "train", result: { params, sampleCount: 50 + (index % 50), trainLoss: 0.5, seconds: 0 } };
  };
}

/** Nodes whose connections are being opened at once, per process. */
const WAVE = 50;

/** Starts node `i`'s poll loop; `opened` is called once its first call is open. */
function startNode(i: number, opened: () => void): Promise<void> {
  const id = `sim-${String(i).padStart(5, "0")}`;
  const transport = createGrpcTransport({
    baseUrl,
    readMaxBytes: 16 * 1024 * 1024,
    sessionManager: createWideSessionManager(baseUrl),
  });
  let first = true;
  const status = {
    connected(yes: boolean) {
      if (yes && first) {
        first = false;
        opened();
      }
    },
    taskStarted() {},
    feedback() {},
    taskEnded() {},
  };
  return runPollLoop({
    client: createResearcherClient(transport),
    researcherUrl: baseUrl,
    nodeId: id,
    name: id,
    version: "bench",
    execute: executor(i),
    signal: stop.signal,
    log: () => {},
    waitSeconds: 20,
    heartbeatMs: 60_000,
    sessions: mode !== "calls",
    status,
  });
}

const loops: Promise<void>[] = [];
for (let wave = first; wave < first + count && !stop.signal.aborted; wave += WAVE) {
  const size = Math.min(WAVE, first + count - wave);
  await new Promise<void>((resolve) => {
    let open = 0;
    const opened = () => {
      if (++open === size) resolve();
    };
    for (let i = wave; i < wave + size; i++) loops.push(startNode(i, opened));
    stop.signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
await toParent<SimEvent>({ type: "started", count });
await Promise.all(loops);
if (process.connected) process.disconnect();
