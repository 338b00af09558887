/**
 * Parameter streaming: a real researcher server (startServer + createHub, h2c on 127.0.0.1:0) in this
 * process sends train tasks of 1–256 MiB of float32 parameters to a node process (bench/lib/echo-node.ts,
 * the real client and poll loop) that echoes them back. Prints round-trip time, MiB/s each way, and the
 * peak memory of both processes during each transfer. Each size is also sent both ways over bare
 * node:http2 between this process and a helper process (bench/lib/h2-baseline.ts: the same topology and
 * windows, nothing but the bytes); the best of `--repeat N` runs (default 3) of each leg is compared, and
 * each leg is printed with its ratio to bare and met / NOT met against the target, 0.8×, and each process's CPU
 * per MiB beside bare's. An extra bare pair, the receiver copying the bytes into one reused buffer instead of
 * dropping them, is printed to explain the gap (it is not the yardstick).
 * The node receives as `fbm-node serve` does on the kernels path (bench/lib/echo-node.ts): each task into
 * its experiment's kept buffer (the poll loop's `taskBuffers`), its values then copied into memory of its
 * own (as `flatParams` does; timed apart, in neither leg) and the buffer given back; `--fresh` receives
 * each task into a fresh buffer instead, as a round whose buffer is adopted out (tfjs, SCAFFOLD, secure
 * aggregation, central DP). The researcher receives each echo twice per run, both printed, each labelled:
 * as the run loop does with a foldable aggregator (fedavg, the default, and the others that fold:
 * train-round.ts → reply-fold.ts, the reply folded into a RunningMean chunk by chunk with its take-back
 * copy, nothing assembled; the "back" leg and its ratio), and assembled whole into a fresh buffer
 * (`hub.send` with no receiver: robust aggregators, scaffold, central DP, secure aggregation).
 * `--pooled` receives the replies into buffers kept between transfers (`assembleInto`), a path no
 * product process takes yet; its lines are labelled so.
 * Asserts nothing about time.
 * Run: node --import tsx bench/transfer.ts [--quick] [--repeat N] [--fresh] [--pooled]
 */
import { fileURLToPath } from "node:url";
import { type RunningMean, reuseRunningMean } from "../src/researcher/aggregators/running-mean.js";
import { createTakeBackBuffers, foldReply } from "../src/researcher/run/reply-fold.js";
import { createHub } from "../src/researcher/server/hub.js";
import { startServer } from "../src/researcher/server/server.js";
import { assembleInto, type BufferPool, createBufferPool, type TaskBody } from "../src/wire/index.js";
import { traceTransfer } from "../src/wire/transfer-trace.js";
import { bareTrainTask } from "../test/support/train-task.js";
import { exited, forkTs, nextMessage } from "./lib/child.js";
import type { EchoCommand, EchoEvent } from "./lib/echo-node.js";
import { hasFlag, isQuick } from "./lib/flags.js";
import { type BareLeg, startBareHttp2 } from "./lib/h2-baseline.js";
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
/**
 * `--pooled`: the researcher's reply buffers kept between transfers, an opt-in the run loop does not take
 * (default: fresh buffers, as the run loop assembles).
 */
const pooled = hasFlag("pooled");
/** `--fresh`: the node receives each task into a fresh buffer (default: its experiment's kept buffer). */
const freshTasks = hasFlag("fresh");
/** Printed beside every figure of a `--pooled` run, so it is not read as the product's. */
const POOLED_LABEL = "(researcher's reply buffers kept; not used by the run loop)";
/** The researcher's reply buffers, one per size, kept between runs (`--pooled` only). */
const replyBuffers = pooled ? createBufferPool({ maxBuffers: sizesMiB.length + 1 }) : undefined;
const repeat = repeatFlag();
/** The target: each leg at least this fraction of bare node:http2's rate. */
const TARGET_RATIO = 0.8;
const helper = fileURLToPath(new URL("./lib/echo-node.ts", import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();

console.log(machineLine("not used (no training)"));
console.log(
  "transfer: researcher (this process) → Session call (tasks down, replies up) → node process (echo) → researcher; " +
    "h2c on 127.0.0.1, gRPC protocol, 1 MiB chunks; one float32 tensor [N, 1024]; " +
    (freshTasks
      ? "node: each task received into a fresh buffer (as fbm-node serve for a round whose buffer is adopted out: tfjs, SCAFFOLD, secure aggregation, central DP); "
      : "node: each task received into its experiment's kept buffer, copied into its own memory and given back (as fbm-node serve on the kernels path); ") +
    "researcher: each echo folded into a running mean as the run loop folds (the back leg), then again assembled whole " +
    (pooled
      ? `into buffers kept between transfers (assembleInto) ${POOLED_LABEL}`
      : "into a fresh buffer, as the run loop assembles for the aggregators that do not fold"),
);

const copy = copyRates();
console.log(
  `memory copy on this machine: ${copy.freshMiBps.toFixed(0)} MiB/s into fresh 1 MiB buffers, ` +
    `${copy.reusedMiBps.toFixed(0)} MiB/s into a reused one (the gap is first-touch page faults)`,
);
console.log(
  `bare node:http2 yardstick: this process ↔ a helper process, the same windows, 1 MiB writes, no Connect/protobuf; best of ${repeat} runs of each leg`,
);
const bare = await startBareHttp2();

const hub = createHub({ pollWindowMs: 5_000 });
const server = await startServer({ listen: "127.0.0.1:0", hub, allowUnsignedNodes: true }); // the echo node does not sign
const node = forkTs(helper, [server.url, ...(freshTasks ? ["--fresh"] : [])]);
const command = (c: EchoCommand) => node.send(c);
try {
  await until(() => hub.nodes().some((n) => n.online), 60_000);
  const sampler = createMemorySampler({ intervalMs: 50 });
  // One untimed small round trip first: the first task pays for JIT and stream set-up.
  await roundTrip(new Float32Array(1024), sampler);
  for (const size of sizesMiB) {
    const params = new Float32Array(size * 2 ** 18);
    for (let i = 0; i < params.length; i++) params[i] = i % 1000;
    let best: Awaited<ReturnType<typeof roundTrip>> | undefined;
    /** The assembled path's back leg: least time, CPU and peak over the runs. */
    let assembled: AssembledBack | undefined;
    /** The take-back storage an experiment keeps for its folds (reply-fold.ts), reused from run to run. */
    const takeBack = createTakeBackBuffers([{ data: params }]);
    /** The running mean an experiment keeps from round to round, reset for each echo (running-mean.ts). */
    const keep: { running?: RunningMean } = {};
    let bareOut: BareLeg | undefined;
    let bareBack: BareLeg | undefined;
    let keptOut: BareLeg | undefined;
    let keptBack: BareLeg | undefined;
    let baseline = current();
    let nodeBack = baseline;
    for (let run = 0; run < repeat; run++) {
      // Bare and fbm alternate, so a machine that gets busier slows both.
      bareOut = leastOf(bareOut, await bare.out(size));
      bareBack = leastOf(bareBack, await bare.back(size));
      keptOut = leastOf(keptOut, await bare.out(size, true));
      keptBack = leastOf(keptBack, await bare.back(size, true));
      forceGc();
      baseline = current();
      command({ type: "reset" });
      sampler.reset();
      const figures = await roundTrip(params, sampler, { fold: takeBack, keep });
      command({ type: "report" });
      const peaks = await nextMessage<Extract<EchoEvent, { type: "peaks" }>>(node, "peaks");
      nodeBack = peaks.peak;
      const cpu = { ...figures.cpu, nodeBack: peaks.cpuMs };
      best = {
        ...figures,
        // CPU is far less sensitive than time to what else the machine runs: the least of each is kept.
        cpu: best ? minOf(best.cpu, cpu) : cpu,
        outMs: Math.min(figures.outMs, best?.outMs ?? Number.POSITIVE_INFINITY),
        backMs: Math.min(figures.backMs, best?.backMs ?? Number.POSITIVE_INFINITY),
        totalMs: Math.min(figures.totalMs, best?.totalMs ?? Number.POSITIVE_INFINITY),
        copyMs: Math.min(figures.copyMs, best?.copyMs ?? Number.POSITIVE_INFINITY),
      };
      // The same echo received by the assembly instead of the fold (its out leg is the same path again, not counted).
      forceGc();
      command({ type: "reset" });
      sampler.reset();
      const whole = await roundTrip(params, sampler, {});
      command({ type: "report" });
      await nextMessage<Extract<EchoEvent, { type: "peaks" }>>(node, "peaks");
      const back = { ms: whole.backMs, cpuMs: whole.cpu.researcherBack, peak: whole.researcherBack };
      assembled = assembled
        ? { ms: Math.min(assembled.ms, back.ms), cpuMs: Math.min(assembled.cpuMs, back.cpuMs), peak: back.peak }
        : back;
    }
    report(
      size,
      best!,
      { out: bareOut!, back: bareBack!, keptOut: keptOut!, keptBack: keptBack! },
      baseline,
      nodeBack,
      assembled!,
    );
  }
  sampler.stop();
} finally {
  command({ type: "stop" });
  await exited(node).catch((error: Error) => console.error(error.message));
  await server.close();
  await bare.close();
}

/**
 * One train task out and its echo back. Times use the wall clock both processes share; the researcher's
 * peak is split at the moment the node reports the task complete.
 */
/** The researcher's receive side of an echo's back leg when the reply is assembled whole. */
interface AssembledBack {
  ms: number;
  cpuMs: number;
  peak: MemoryFigures;
}

/**
 * `how.fold`: the echo is folded into a fresh RunningMean as train-round.ts folds a foldable
 * aggregator's replies (its take-back copy in `how.fold`); otherwise it is assembled whole (into a
 * `--pooled` buffer or a fresh one).
 */
async function roundTrip(
  params: Float32Array,
  sampler: MemorySampler,
  how: { fold?: BufferPool; keep?: { running?: RunningMean } } = {},
) {
  // Reset before the task goes out, as plainCollect does for the round's sum before its tasks, and
  // before the clocks start: zeroing the sum (twice the model: 128 MiB at 64 MiB of parameters, ~15 ms)
  // prepares the aggregation and is no part of either leg's transfer.
  const running = how.fold ? reuseRunningMean(how.keep?.running, [params.length]) : undefined;
  if (how.keep && running) how.keep.running = running;
  let researcherOut: MemoryFigures | undefined;
  let cpuOut = 0;
  const cpuFrom = process.cpuUsage();
  const received = nextMessage<Extract<EchoEvent, { type: "received" }>>(node, "received").then((event) => {
    researcherOut = sampler.peak();
    cpuOut = cpuMs(process.cpuUsage(cpuFrom));
    sampler.reset();
    return event;
  });
  const body: TaskBody = bareTrainTask(
    [{ name: "kernel", shape: [params.length / 1024, 1024], dtype: "float32", data: params }],
    { datasetId: "bench", planId: "bench" },
  );
  const sent = epochMs();
  const fold = how.fold && foldReply(running, { headProblem: () => undefined, takeBack: how.fold });
  const receive = fold ? fold.receive : replyBuffers ? assembleInto(replyBuffers) : undefined;
  traceTransfer(`researcher: hub.send ${params.byteLength} bytes`);
  const reply = await hub.send("bench-node", body, { timeoutMs: 600_000, ...(receive ? { receive } : {}) });
  if (fold?.folding && !fold.problem) fold.commit();
  const back = epochMs();
  const researcherBack = sampler.peak();
  const cpuTotal = cpuMs(process.cpuUsage(cpuFrom));
  const { at: arrived, peak: nodeOut, cpuMs: nodeCpuOut, copiedAt, copyCpuMs } = await received;
  if (reply.kind !== "train") throw new Error(`Expected a train reply, got ${reply.kind}`);
  if (fold && (!fold.folding || fold.problem))
    throw new Error(`The echo was not folded: ${fold.problem ?? "not taken"}`);
  // Folded with weight 1 (the echo's sample count), the mean is the echo.
  const echoed = running ? running.result().params[0] : reply.result.params[0].data;
  if (echoed.length !== params.length || echoed[params.length - 1] !== params[params.length - 1]) {
    throw new Error("The echoed parameters differ from the ones sent");
  }
  if (!running) replyBuffers?.release(echoed.buffer);
  return {
    outMs: arrived - sent,
    // From the end of the node's copy (the kernels path's, at the start of training: neither leg).
    backMs: back - copiedAt,
    copyMs: copiedAt - arrived,
    totalMs: back - sent,
    researcherOut: researcherOut!,
    researcherBack,
    nodeOut,
    cpu: {
      researcherOut: cpuOut,
      nodeOut: nodeCpuOut,
      researcherBack: cpuTotal - cpuOut,
      nodeBack: 0,
      nodeCopy: copyCpuMs,
    },
  };
}

function cpuMs(used: NodeJS.CpuUsage): number {
  return (used.user + used.system) / 1000;
}

function report(
  size: number,
  r: Awaited<ReturnType<typeof roundTrip>>,
  bareLegs: { out: BareLeg; back: BareLeg; keptOut: BareLeg; keptBack: BareLeg },
  baseline: MemoryFigures,
  nodeBack: MemoryFigures,
  assembled: AssembledBack,
): void {
  const bareMs = { outMs: bareLegs.out.seconds * 1000, backMs: bareLegs.back.seconds * 1000 };
  const rate = (ms: number) => size / (ms / 1000);
  const leg = (ms: number, bareLegMs: number) => {
    const ratio = rate(ms) / rate(bareLegMs);
    const verdict = ratio >= TARGET_RATIO ? "met" : "NOT met";
    return `${seconds(ms, 3)} (${rate(ms).toFixed(1)} MiB/s, bare ${rate(bareLegMs).toFixed(1)}: ${ratio.toFixed(2)}× ${verdict})`;
  };
  const mem = (m: MemoryFigures) => `rss ${mib(m.rss)} / arrayBuffers ${mib(m.arrayBuffers)}`;
  const pad = " ".repeat(9);
  // fbm's figures of a --pooled run carry the label on their lines; bare's are the same either way.
  const label = pooled ? ` ${POOLED_LABEL}` : "";
  console.log(
    `${`${size} MiB`.padEnd(9)}round trip ${seconds(r.totalMs, 3)}; out ${leg(r.outMs, bareMs.outMs)}${label}; ` +
      `back, folded as the run loop folds (fedavg and the other foldable aggregators) ${leg(r.backMs, bareMs.backMs)}`,
  );
  console.log(
    `${pad}back, assembled whole (robust aggregators, scaffold, central DP, secure aggregation) ` +
      `${leg(assembled.ms, bareMs.backMs)}${label}`,
  );
  console.log(
    `${pad}researcher: before ${mem(baseline)} (the model included); peak sending ${mem(r.researcherOut)}; ` +
      `peak receiving folded ${mem(r.researcherBack)}, assembled ${mem(assembled.peak)}${label}`,
  );
  console.log(`${pad}node:       peak receiving ${mem(r.nodeOut)}; peak sending back ${mem(nodeBack)}${label}`);
  const perMiB = (ms: number) => `${(ms / size).toFixed(1)} ms`;
  console.log(
    `${pad}CPU per MiB (least of the runs): out researcher ${perMiB(r.cpu.researcherOut)} + node ${perMiB(r.cpu.nodeOut)}; ` +
      `back node ${perMiB(r.cpu.nodeBack)} + researcher folding ${perMiB(r.cpu.researcherBack)} ` +
      `(assembling ${perMiB(assembled.cpuMs)})${label}`,
  );
  const bareCpu = (label: string, out: BareLeg, back: BareLeg) =>
    console.log(
      `${pad}${label} CPU per MiB (least of the runs): out sender ${perMiB(out.senderCpuMs)} + receiver ${perMiB(out.receiverCpuMs)}; ` +
        `back sender ${perMiB(back.senderCpuMs)} + receiver ${perMiB(back.receiverCpuMs)}`,
    );
  console.log(
    `${pad}node's copy into its own memory (as flatParams; neither leg${freshTasks ? "" : ", its buffer given back after it"}): ` +
      `${seconds(r.copyMs, 3)}, CPU ${perMiB(r.cpu.nodeCopy)} per MiB (least of the runs)`,
  );
  bareCpu("bare http2", bareLegs.out, bareLegs.back);
  // Not the yardstick: how far a receiver that must keep the bytes (one copy, into memory touched before) gets.
  const { keptOut, keptBack } = bareLegs;
  console.log(
    `${pad}bare, keeping the bytes in one reused buffer (explanatory, not the yardstick): out ${rate(keptOut.seconds * 1000).toFixed(1)} MiB/s, ` +
      `back ${rate(keptBack.seconds * 1000).toFixed(1)} MiB/s`,
  );
  bareCpu("bare keeping the bytes,", keptOut, keptBack);
}

/** Each figure of a bare leg at its least over the runs (time and CPU apart, as for fbm's legs). */
function leastOf(a: BareLeg | undefined, b: BareLeg): BareLeg {
  return a ? minOf(a, b) : b;
}

function minOf<T extends { [K in keyof T]: number }>(a: T, b: T): T {
  return Object.fromEntries(Object.keys(a).map((k) => [k, Math.min(a[k as keyof T], b[k as keyof T])])) as T;
}

/** `--repeat N`: runs of each leg, the best counted (default 3). */
function repeatFlag(): number {
  const at = process.argv.indexOf("--repeat");
  if (at < 0) return 3;
  const n = Number(process.argv[at + 1]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--repeat takes a whole number of runs ≥ 1, got "${process.argv[at + 1] ?? ""}"`);
    process.exit(2);
  }
  return n;
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("The echo node did not connect in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
