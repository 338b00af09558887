/**
 * Parameter streaming: a real researcher server (startServer + createHub, h2c on 127.0.0.1:0) in this
 * process sends train tasks of 1–256 MiB of float32 parameters to a node process (bench/lib/echo-node.ts,
 * the real client and poll loop) that echoes them back. Prints round-trip time, MiB/s each way, and the
 * peak memory of both processes during each transfer. Asserts nothing about time.
 * Run: node --import tsx bench/transfer.ts [--quick]
 */
import { fileURLToPath } from "node:url";
import { createHub } from "../src/researcher/server/hub.js";
import { startServer } from "../src/researcher/server/server.js";
import type { TaskBody } from "../src/wire/index.js";
import { exited, forkTs, nextMessage } from "./lib/child.js";
import type { EchoCommand, EchoEvent } from "./lib/echo-node.js";
import { isQuick } from "./lib/flags.js";
import { rawHttp2Rate } from "./lib/h2-baseline.js";
import { machineLine, mib, seconds } from "./lib/machine.js";
import {
  copyRates,
  createMemorySampler,
  current,
  forceGc,
  type MemoryFigures,
  type MemorySampler,
} from "./lib/memory.js";

const sizesMiB = isQuick() ? [1, 16, 64] : [1, 16, 64, 256];
const helper = fileURLToPath(new URL("./lib/echo-node.ts", import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();

console.log(machineLine("not used (no training)"));
console.log(
  "transfer: researcher (this process) → GetTask stream → node process (echo) → ReplyTask stream → researcher; " +
    "h2c on 127.0.0.1, gRPC protocol, 1 MiB chunks; one float32 tensor [N, 1024]",
);

const copy = copyRates();
console.log(
  `memory copy on this machine: ${copy.freshMiBps.toFixed(0)} MiB/s into fresh 1 MiB buffers, ` +
    `${copy.reusedMiBps.toFixed(0)} MiB/s into a reused one (the gap is first-touch page faults)`,
);
console.log(
  `bare node:http2 download over loopback (64 MiB in 1 MiB writes, no Connect/protobuf): ${(await rawHttp2Rate(64)).toFixed(0)} MiB/s`,
);

const hub = createHub({ pollWindowMs: 5_000 });
const server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true }); // the echo node does not sign
const node = forkTs(helper, [server.url]);
const command = (c: EchoCommand) => node.send(c);
try {
  await until(() => hub.nodes().some((n) => n.online), 60_000);
  const sampler = createMemorySampler({ intervalMs: 50 });
  // One untimed small round trip first: the first task pays for JIT and stream set-up.
  await roundTrip(new Float32Array(1024), sampler);
  for (const size of sizesMiB) {
    const params = new Float32Array(size * 2 ** 18);
    for (let i = 0; i < params.length; i++) params[i] = i % 1000;
    forceGc();
    const baseline = current();
    command({ type: "reset" });
    sampler.reset();
    const figures = await roundTrip(params, sampler);
    command({ type: "report" });
    const nodeBack = (await nextMessage<Extract<EchoEvent, { type: "peaks" }>>(node, "peaks")).peak;
    report(size, figures, baseline, nodeBack);
  }
  sampler.stop();
} finally {
  command({ type: "stop" });
  await exited(node).catch((error: Error) => console.error(error.message));
  await server.close();
}

/**
 * One train task out and its echo back. Times use the wall clock both processes share; the researcher's
 * peak is split at the moment the node reports the task complete.
 */
async function roundTrip(params: Float32Array, sampler: MemorySampler) {
  let researcherOut: MemoryFigures | undefined;
  const received = nextMessage<Extract<EchoEvent, { type: "received" }>>(node, "received").then((event) => {
    researcherOut = sampler.peak();
    sampler.reset();
    return event;
  });
  const body: TaskBody = {
    kind: "train",
    datasetId: "bench",
    planId: "bench",
    planJson: "{}",
    round: 1,
    args: {
      epochs: 1,
      updates: 0,
      batchSize: 1,
      testRatio: 0,
      testOnGlobal: false,
      testOnLocal: false,
      metrics: [],
      seed: 0,
      fedproxMu: 0,
    },
    params: [{ name: "kernel", shape: [params.length / 1024, 1024], dtype: "float32", data: params }],
  };
  const sent = epochMs();
  const reply = await hub.send("bench-node", body, { timeoutMs: 600_000 });
  const back = epochMs();
  const researcherBack = sampler.peak();
  const { at: arrived, peak: nodeOut } = await received;
  if (reply.kind !== "train") throw new Error(`Expected a train reply, got ${reply.kind}`);
  const echoed = reply.result.params[0].data;
  if (echoed.length !== params.length || echoed[params.length - 1] !== params[params.length - 1]) {
    throw new Error("The echoed parameters differ from the ones sent");
  }
  return {
    outMs: arrived - sent,
    backMs: back - arrived,
    totalMs: back - sent,
    researcherOut: researcherOut!,
    researcherBack,
    nodeOut,
  };
}

function report(
  size: number,
  r: Awaited<ReturnType<typeof roundTrip>>,
  baseline: MemoryFigures,
  nodeBack: MemoryFigures,
): void {
  const leg = (ms: number) => `${seconds(ms, 3)} (${(size / (ms / 1000)).toFixed(1)} MiB/s)`;
  const mem = (m: MemoryFigures) => `rss ${mib(m.rss)} / arrayBuffers ${mib(m.arrayBuffers)}`;
  const pad = " ".repeat(9);
  console.log(
    `${`${size} MiB`.padEnd(9)}round trip ${seconds(r.totalMs, 3)}; out ${leg(r.outMs)}; back ${leg(r.backMs)}`,
  );
  console.log(
    `${pad}researcher: before ${mem(baseline)} (the model included); peak sending ${mem(r.researcherOut)}; peak receiving ${mem(r.researcherBack)}`,
  );
  console.log(`${pad}node:       peak receiving ${mem(r.nodeOut)}; peak sending back ${mem(nodeBack)}`);
}
async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("The echo node did not connect in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
