/**
 * Training threads after a pause (issue 28): a node idles between rounds while the researcher waits for
 * every node, and on some machines two threads that meet every step run slower right after the machine
 * idled. Two figures, each back to back and after a 150-ms pause, interleaved:
 *  1. plain Node.js, no fbm code: two threads meeting after each ~0.15 ms of arithmetic, 200 steps a burst,
 *     waiting by spinning ~60 µs (4,096 loads) or ~1 ms (65,536) before `Atomics.wait`;
 *  2. the MLP's 200-step rounds (bench/lib/train-models.ts) chained in this process as a node's warm rounds
 *     are (`trainLocal`, 2 threads, the node's 60,000 byte rows), with the spin-wait.ts regimes as they are.
 * `--busy` runs a busy process beside both (the machine shared). Prints the cpuidle driver and the guest's
 * halt polling where Linux shows them: a guest that halts an idle vCPU at once makes every sleep dear.
 * Run: npm run bench -- pause [--busy] [--bursts N]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine } from "./lib/machine.js";
import { chainedRounds, nodeData } from "./lib/node-round.js";
import { benchModels, stepArgs } from "./lib/train-models.js";

const bursts = numberFlag("bursts", isQuick() ? 6 : 16);
const pauseMs = 150;
const steps = 200;

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "not shown";
  }
};
console.log(machineLine("kernels"));
console.log(
  `cpuidle driver ${read("/sys/devices/system/cpu/cpuidle/current_driver")}, ` +
    `guest_halt_poll_ns ${read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")}`,
);
const busy = process.argv.includes("--busy")
  ? spawn(process.execPath, ["-e", "for (;;);"], { stdio: "ignore" })
  : undefined;
console.log(
  `pause: ${bursts} bursts of ${steps} steps per case, interleaved, back to back or after a ${pauseMs}-ms pause; ` +
    `medians (and quartiles) of ms a step${busy ? "; a busy process beside them" : ""}`,
);

const quartiles = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const at = (f: number) => s[Math.round(f * (s.length - 1))].toFixed(3);
  return `${at(0.5)} (${at(0.25)}–${at(0.75)})`;
};
const pause = () => new Promise((resolve) => setTimeout(resolve, pauseMs));

// 1. Plain threads: the partner computes its half and meets this thread at a counter, every step.
const partner = `
const { workerData } = require("node:worker_threads");
const c = new Int32Array(workerData.shared);
const a = new Float64Array(4096);
for (let step = 1; ; step++) {
  for (let s = 0; Atomics.load(c, 0) < step; s++) if (s > Atomics.load(c, 2)) Atomics.wait(c, 0, step - 1, 1000);
  if (Atomics.load(c, 3) === 1) break;
  for (let k = 0; k < 40; k++) for (let i = 0; i < 4096; i++) a[i] = a[i] * 0.999 + i;
  Atomics.store(c, 1, step);
  Atomics.notify(c, 1);
}`;
const shared = new SharedArrayBuffer(16);
const control = new Int32Array(shared);
const worker = new Worker(partner, { eval: true, workerData: { shared } });
const work = new Float64Array(4096);
let step = 0;
const burst = (spins: number) => {
  Atomics.store(control, 2, spins);
  const started = performance.now();
  for (let i = 0; i < steps; i++) {
    step++;
    Atomics.store(control, 0, step);
    Atomics.notify(control, 0);
    for (let k = 0; k < 40; k++) for (let j = 0; j < 4096; j++) work[j] = work[j] * 0.999 + j;
    for (let s = 0; Atomics.load(control, 1) < step; s++) if (s > spins) Atomics.wait(control, 1, step - 1, 1000);
  }
  return (performance.now() - started) / steps;
};
const plain = new Map<string, number[]>();
for (let b = 0; b < bursts + 1; b++) {
  for (const spins of [4096, 65536]) {
    for (const paused of [false, true]) {
      if (paused) await pause();
      else await new Promise((resolve) => setImmediate(resolve));
      const ms = burst(spins);
      const name = `spin ${spins} loads, ${paused ? `after ${pauseMs} ms` : "back to back"}`;
      if (b > 0) plain.set(name, [...(plain.get(name) ?? []), ms]);
    }
  }
}
Atomics.store(control, 3, 1);
Atomics.store(control, 0, step + 1);
Atomics.notify(control, 0);
await worker.terminate();
console.log("\n1. two plain threads meeting every step (no fbm code)");
for (const [name, values] of plain) console.log(`  ${name.padEnd(36)} ${quartiles(values)}`);

// 2. The MLP's warm rounds in this process, as a node chains them.
const model = benchModels.find((m) => m.name === "mlp")!;
const data = nodeData(model, 60_000);
const args = stepArgs(model, steps);
const chain = chainedRounds(model, data, args, 2);
const rounds = new Map<string, number[]>();
const shares = new Map<string, number[]>();
try {
  for (let b = 0; b < bursts + 1; b++) {
    for (const paused of [false, true]) {
      if (paused) await pause();
      const cpu = process.cpuUsage();
      const started = performance.now();
      const result = await chain.next();
      const used = process.cpuUsage(cpu);
      const wall = performance.now() - started;
      const name = paused ? `after ${pauseMs} ms` : "back to back";
      if (b === 0) continue;
      rounds.set(name, [...(rounds.get(name) ?? []), ((result.phases?.steps ?? 0) * 1000) / steps]);
      shares.set(name, [...(shares.get(name) ?? []), (used.user + used.system) / 1000 / (wall * 2)]);
    }
  }
} finally {
  chain.drop();
  busy?.kill();
}
console.log(`\n2. the MLP's ${steps}-step rounds, 2 threads, chained in this process (steps phase; CPU ÷ wall × 2)`);
for (const [name, values] of rounds)
  console.log(`  ${name.padEnd(36)} ${quartiles(values)}   CPU share ${quartiles(shares.get(name)!)}`);
// A worker pool trainLocal left running would keep the process alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
