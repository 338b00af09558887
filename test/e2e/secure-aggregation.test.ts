import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  commandLine,
  DEADLINE_MS,
  type NodeProcesses,
  nodeBin,
  nodeIdOf,
  prepareNodes,
  runResearcher,
  startNodes,
  stopAll,
} from "../../scripts/lib/federation.js";
import { writeSkewedCsv, writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { contentsLength } from "../../src/ml/masked-contents.js";
import { quantizationBound } from "../../src/privacy/secagg/fixed-point.js";
import { researcherCli } from "../support/cli.js";
import { until } from "../support/wait.js";

const CLIP = 4;

function experiment(
  name: string,
  options: {
    rounds?: number;
    min: number;
    secagg?: string;
    aggregator?: string;
    seed?: number;
    frozen?: boolean;
    testRatio?: number;
  },
) {
  return [
    `name: ${name}`,
    "tags: [secagg]",
    `rounds: ${options.rounds ?? 1}`,
    `nodes: {min: ${options.min}, wait: 5m, round_timeout: 5m}`,
    "plan:",
    "  data: {target: label, normalize: none}",
    `  model: [{dense: {units: 2048, activation: relu}${options.frozen ? ", trainable: false" : ""}}, {dense: {units: 1, activation: sigmoid}}]`,
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.1}",
    `training: {epochs: 3, batch_size: 8, test_ratio: ${options.testRatio ?? 0.25}, metrics: [accuracy], seed: ${options.seed ?? 7}}`,
    `aggregator: ${options.aggregator ?? "{name: fedavg}"}`,
    ...(options.secagg ? [`secagg: ${options.secagg}`] : []),
  ].join("\n");
}

/** The exported model's weights, all tensors end to end. */
const weightsOf = (runDir: string) => {
  const bytes = readFileSync(join(runDir, "model", "weights.bin"));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};

/** The exported model's tensors by name (weights.bin holds the trainable ones first, then frozen ones). */
const tensorsOf = (runDir: string) => {
  const manifest = JSON.parse(readFileSync(join(runDir, "model", "model.json"), "utf8")).weightsManifest[0].weights as {
    name: string;
    shape: number[];
  }[];
  const all = weightsOf(runDir);
  const out = new Map<string, Float32Array>();
  let at = 0;
  for (const { name, shape } of manifest) {
    const n = shape.reduce((x, y) => x * y, 1);
    out.set(name, all.subarray(at, at + n));
    at += n;
  }
  assert.equal(at, all.length);
  return out;
};

/**
 * Five hospital node processes. site-4 holds a large dataset, so its local training lasts long enough
 * to SIGKILL it after it shared its keys and before it sends its masked input; it also demands
 * secure aggregation (`require_secagg true`).
 */
describe("secure aggregation with five real node processes", { timeout: 6 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-secagg-"));
  const updatesDir = join(dir, "updates");
  let four: NodeProcesses;
  let homes: string[];
  let slow: { process: ChildProcess; log: string } | undefined;
  let plainFour: Float32Array;

  const startSlowNode = async () => {
    const child = spawn(...commandLine(nodeBin, ["--home", homes[4], "serve", "--researcher", four.url]), {
      env: { ...process.env, FBM_TEST_SECAGG_UPDATES: updatesDir },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const started = { process: child, log: "" };
    child.stderr!.on("data", (d) => (started.log += d));
    slow = started;
    await until(() => /dataset\(s\); researcher /.test(started.log), "site-4 to start");
    return started;
  };

  before(async () => {
    mkdirSync(updatesDir);
    homes = await prepareNodes(
      dir,
      [0, 1, 2, 3, 4].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        if (i === 4) writeTabularCsv(path, { rows: 60_000, seed: 90, features: 4, noise: 0.1 });
        else writeSkewedCsv(path, { rows: 200, seed: 50 + i, positiveShare: [0.2, 0.8, 0.5, 0.4][i], features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "secagg", "--target", "label"]],
          config: i === 4 ? [["require_secagg", "true"] as [string, string]] : [],
        };
      }),
      { planApproval: false },
    );
    four = await startNodes(homes.slice(0, 4), { env: { ...process.env, FBM_TEST_SECAGG_UPDATES: updatesDir } });
  });
  after(async () => {
    if (slow) await stopAll([slow.process]);
    await four?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the researcher CLI; SIGKILLs site-4 as soon as it starts training in `killInRound`. */
  async function run(name: string, yaml: string, options: { args?: string[]; killInRound?: number } = {}) {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    let watcher: NodeJS.Timeout | undefined;
    if (options.killInRound !== undefined && slow) {
      const target = slow;
      const line = `Round ${options.killInRound}: training under secure aggregation`;
      const check = () => {
        if (target.log.includes(line)) target.process.kill("SIGKILL");
      };
      target.process.stderr!.on("data", check);
      watcher = setInterval(check, 50);
    }
    try {
      return await runResearcher({
        experiment: file,
        outDir: join(dir, "runs"),
        gate: four.gate,
        researcherArgs: options.args,
      });
    } finally {
      clearInterval(watcher);
    }
  }

  it("plain fedavg of four nodes (the reference)", async () => {
    const result = await run("plain-four", experiment("plain-four", { min: 4 }));
    assert.equal(result.code, 0, result.stderr);
    plainFour = weightsOf(join(dir, "runs", "plain-four"));
  });

  it("a node that demands secure aggregation refuses plain training", async () => {
    await startSlowNode();
    const result = await run("plain-five", experiment("plain-five", { min: 5 }));
    assert.equal(result.code, 1, result.stderr);
    const refusal = result.events.find((e) => e.event === "error" && e.code === "secagg_required");
    assert.ok(refusal, JSON.stringify(result.events));
    assert.match(refusal.message, /require_secagg/);
  });

  it("site-4 SIGKILLed after sharing its keys: the round gives fedavg of the other four, within the quantization bound", async (t) => {
    const trace = join(dir, "trace.jsonl");
    const result = await run("secagg-kill", experiment("secagg-kill", { min: 5, secagg: `{clip: ${CLIP}}` }), {
      args: ["--trace", trace],
      killInRound: 1,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(slow!.process.signalCode === "SIGKILL", "site-4 was killed during the round");
    const round = result.events.find((e) => e.event === "round")!;
    assert.equal(round.nodes.length, 4);
    assert.ok(round.failed.some((f: { node: string }) => f.node === nodeIdOf(homes[4])));

    const secure = weightsOf(join(dir, "runs", "secagg-kill"));
    assert.equal(secure.length, plainFour.length);
    // Bits chosen by `auto` for 4×200 + 60000 announced samples: the most that fit 32 bits.
    const total = 4 * 200 + 60_000;
    const bits = Math.floor(Math.log2((2 ** 31 - 1) / total)) + 1;
    const bound = quantizationBound({ clip: CLIP, bits }) + 1e-5;
    let worst = 0;
    for (let i = 0; i < secure.length; i++) worst = Math.max(worst, Math.abs(secure[i] - plainFour[i]));
    t.diagnostic(`largest difference from plain fedavg ${worst.toExponential(2)} (bound ${bound.toExponential(2)})`);
    assert.ok(worst <= bound, `largest difference ${worst} > ${bound}`);

    // What the researcher received: each survivor's masked vector, uncorrelated with its update. (The other
    // train replies answer the approval and final validation tasks, which train nothing: they hold the
    // global model, and the trace writes float32 tensors as lengths only.)
    const lines = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const masked = lines.filter(
      (l) => l.value?.body?.kind === "train" && l.value.body.result.params[0]?.dtype === "int32",
    );
    assert.equal(masked.length, 4);
    for (const line of masked) {
      const [tensor] = line.value.body.result.params;
      assert.equal(tensor.dtype, "int32");
      const words = new Int32Array(new Uint8Array(Buffer.from(tensor.data.base64, "base64")).buffer);
      const logged = readFileSync(join(updatesDir, `${line.value.nodeId}.jsonl`), "utf8")
        .trim()
        .split("\n");
      const mine = JSON.parse(logged[logged.length - 1]) as { update: number[][] };
      const update = mine.update.flat();
      // The update, its weight, then the training loss and validation counts (masked-contents.ts).
      const contents = contentsLength({ kind: "binary", classes: 2, sets: ["global", "local"] });
      assert.equal(words.length, update.length + 1 + contents);
      const r = correlation(update, Array.from(words.subarray(0, update.length)));
      t.diagnostic(
        `${line.value.nodeId}: |corr(masked, update)| = ${Math.abs(r).toFixed(4)} over ${update.length} values`,
      );
      assert.ok(Math.abs(r) < 0.05, `node ${line.value.nodeId}: |corr| = ${Math.abs(r)}`);
    }
  });

  it("below the threshold the round fails with a clear error, and --resume completes the run", async () => {
    await startSlowNode();
    // The nodes keep what they put into secure sums across experiments (src/node/privacy/contribution-
    // record.ts) and refuse the same contribution over another set of nodes. Another seed: round 1 with
    // secagg-kill's seed would be its very update. Another test split: the contribution is keyed by its
    // loss and validation counts too, and over secagg-kill's 50 test rows a node's counts and quantized
    // loss can equal its secagg-kill ones: a CI run saw site-0 refuse to reveal in the resumed round,
    // naming secagg-kill's four survivors. 40 test rows here: no count can be the same.
    const yaml = experiment("secagg-resume", {
      rounds: 2,
      min: 5,
      secagg: `{clip: ${CLIP}, threshold: 5}`,
      seed: 8,
      testRatio: 0.2,
    });
    const failed = await run("secagg-resume", yaml, { killInRound: 2 });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /secure aggregation cannot complete: .*below the threshold 5/);
    assert.deepEqual(
      failed.events.filter((e) => e.event === "round").map((e) => e.round),
      [1],
    );
    await startSlowNode();
    const resumed = await run("secagg-resume", yaml, { args: ["--resume"] });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(
      resumed.events.filter((e) => e.event === "round").map((e) => e.round),
      [2],
    );
    assert.ok(resumed.events.some((e) => e.event === "done"));
  });
});

/**
 * Frozen layers under secure aggregation, on four nodes of their own: a node refuses to put the same
 * contribution into sums over other sets of nodes (contribution-record.ts), so these runs share no node
 * with the five-node runs above.
 */
describe("frozen layers under secure aggregation, four real node processes", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-secagg-frozen-"));
  let nodes: NodeProcesses;
  before(async () => {
    const homes = await prepareNodes(
      dir,
      [0, 1, 2, 3].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeSkewedCsv(path, { rows: 200, seed: 50 + i, positiveShare: [0.2, 0.8, 0.5, 0.4][i], features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "secagg", "--target", "label"]],
          config: [],
        };
      }),
      { planApproval: false },
    );
    nodes = await startNodes(homes);
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const run = (name: string, yaml: string, options: { args?: string[] } = {}) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return runResearcher({
      experiment: file,
      outDir: join(dir, "runs"),
      gate: nodes.gate,
      researcherArgs: options.args,
    });
  };

  it("a frozen layer under secagg: only the trained layer's update is masked, and it gives plain fedavg within the bound", async (t) => {
    const plain = await run("frozen-plain", experiment("frozen-plain", { min: 4, frozen: true }));
    assert.equal(plain.code, 0, plain.stderr);
    const trace = join(dir, "frozen-trace.jsonl");
    const secure = await run(
      "frozen-secagg",
      experiment("frozen-secagg", { min: 4, frozen: true, secagg: `{clip: ${CLIP}}` }),
      { args: ["--trace", trace] },
    );
    assert.equal(secure.code, 0, secure.stderr);
    const a = tensorsOf(join(dir, "runs", "frozen-plain"));
    const b = tensorsOf(join(dir, "runs", "frozen-secagg"));
    // The frozen layer (4 × 2048 kernel, 2048 biases) is the seed's in both; the trained layer differs by quantization.
    const frozen = [...a.keys()].filter((name) => name.startsWith("0."));
    assert.equal(frozen.length, 2, [...a.keys()].join(", "));
    for (const name of frozen) assert.deepEqual(b.get(name), a.get(name), `${name} is the seed's in both runs`);
    const bits = Math.floor(Math.log2((2 ** 31 - 1) / (4 * 200))) + 1;
    const bound = quantizationBound({ clip: CLIP, bits }) + 1e-5;
    let worst = 0;
    for (const [name, x] of a) {
      if (frozen.includes(name)) continue;
      const y = b.get(name)!;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
    }
    t.diagnostic(
      `trained layer: largest difference from plain fedavg ${worst.toExponential(2)} (bound ${bound.toExponential(2)})`,
    );
    assert.ok(worst > 0 && worst <= bound, `largest difference ${worst} (bound ${bound})`);
    const masked = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.value?.body?.kind === "train" && l.value.body.result.params[0]?.dtype === "int32");
    assert.equal(masked.length, 4);
    const contents = contentsLength({ kind: "binary", classes: 2, sets: ["global", "local"] });
    for (const line of masked) {
      const words = Buffer.from(line.value.body.result.params[0].data.base64, "base64").byteLength / 4;
      assert.equal(words, 2048 + 1 + 1 + contents, "the trained layer's 2,049 values, the weight, then the contents");
    }
  });
});

describe("secure aggregation refuses what it cannot do", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-secagg-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const min of [1, 2]) {
    it(`a secure round of ${min} node(s) (nodes.min ${min}) exits 2 before asking any node`, async () => {
      const file = join(dir, `min-${min}.yaml`);
      writeFileSync(file, experiment(`min-${min}`, { min, secagg: "{}" }));
      const { code, stderr } = await researcherCli(file, "--out", join(dir, "runs"), "--listen", "127.0.0.1:0");
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`nodes.min: secure aggregation needs at least 3 nodes a round .*got ${min}`));
    });
  }

  for (const aggregator of [
    "{name: fedmedian}",
    "{name: trimmed_mean}",
    "{name: krum, f: 1}",
    "{name: multikrum, f: 1}",
  ]) {
    it(`${aggregator} with secagg exits 2: robust aggregation needs individual updates`, async () => {
      const file = join(dir, "robust.yaml");
      writeFileSync(file, experiment("robust", { min: 5, secagg: "{}", aggregator }));
      const { code, stderr } = await researcherCli(file, "--out", join(dir, "runs"), "--listen", "127.0.0.1:0");
      assert.equal(code, 2, stderr);
      assert.match(stderr, /robust aggregation, which needs every node's individual update/);
    });
  }
});

function correlation(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
