/**
 * Helper process of bench/scale.ts: `count` simulated nodes in one process, each with its own HTTP/2
 * connection, the real client and the real poll loop, and no tfjs. Each holds one csv dataset with
 * `features` columns plus a target, answers `search` (and a relay's `list`) with it and a `train` task with the parameters
 * it received, nudged by its index (so the aggregate is a real mean, not the model sent back).
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

const loops: Promise<void>[] = [];
for (let i = first; i < first + count; i++) {
  const id = `sim-${String(i).padStart(5, "0")}`;
  const transport = createGrpcTransport({
    baseUrl,
    readMaxBytes: 16 * 1024 * 1024,
    sessionManager: createWideSessionManager(baseUrl),
  });
  loops.push(
    runPollLoop({
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
    }),
  );
}
await toParent<SimEvent>({ type: "started", count });
await Promise.all(loops);
if (process.connected) process.disconnect();
