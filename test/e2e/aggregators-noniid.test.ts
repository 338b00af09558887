import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DEADLINE_MS, type NodeProcesses, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import { writeSkewedCsv } from "../../scripts/lib/synthetic.js";
import { generateKeyPair } from "../../src/common/certificates.js";
import { selectBackend } from "../../src/ml/backend.js";
import type { NamedTensor } from "../../src/ml/types.js";
import { runPollLoop } from "../../src/node/serve/poll-loop.js";
import { parseExperiment } from "../../src/researcher/run/config.js";
import type { ExperimentEvent } from "../../src/researcher/run/events.js";
import { createExperiment } from "../../src/researcher/run/experiment.js";
import { createResearcherClient, signingInterceptor } from "../../src/wire/index.js";

function experimentYaml(name: string, aggregator: string, min: number): string {
  return [
    `name: ${name}`,
    "tags: [skewed]",
    "rounds: 6",
    `nodes: {min: ${min}, wait: 5m}`,
    "plan:",
    "  data: {target: label, normalize: standard}",
    "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.1}",
    "training: {epochs: 2, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 4}",
    `aggregator: ${aggregator}`,
  ].join("\n");
}

/**
 * Three hospital node processes with label-skewed data (90% negatives, 90% positives, balanced),
 * kept running (behind one gate) while researchers with different aggregators come and go.
 */
describe("aggregators on non-IID data with real node processes", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-agg-"));
  let nodes: NodeProcesses;

  before(async () => {
    await selectBackend({ prefer: "cpu" });
    const shares = [0.1, 0.9, 0.5];
    const homes = await prepareNodes(
      dir,
      shares.map((positiveShare, i) => {
        const path = join(dir, `site-${i}.csv`);
        writeSkewedCsv(path, { rows: 240, seed: 40 + i, positiveShare, features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "skewed", "--target", "label"]],
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

  async function run(
    name: string,
    aggregator: string,
    min = 3,
    events: ExperimentEvent[] = [],
  ): Promise<Extract<ExperimentEvent, { event: "done" }>> {
    const experiment = createExperiment(parseExperiment(experimentYaml(name, aggregator, min), `${name}.yaml`), {
      listen: "127.0.0.1:0",
      outDir: join(dir, "runs"),
    });
    let done: ExperimentEvent | undefined;
    try {
      for await (const event of experiment.run()) {
        events.push(event);
        if (event.event === "listening") nodes.gate.open(event.url);
        if (event.event === "done") done = event;
      }
    } finally {
      nodes.gate.shut();
    }
    assert.ok(done && done.event === "done");
    return done;
  }

  for (const [aggregator, target] of [
    ["{name: fedprox, mu: 0.05}", 0.85],
    ["{name: scaffold}", 0.85],
    ["{name: fedadam, server_lr: 0.1}", 0.85],
  ] as const) {
    it(`${aggregator} reaches accuracy above ${target}`, async (t) => {
      const done = await run(aggregator.replace(/\W+/g, "-").replace(/^-|-$/g, ""), aggregator);
      t.diagnostic(`final accuracy ${done.metrics.accuracy.toFixed(3)}`);
      assert.ok(done.metrics.accuracy > target, JSON.stringify(done.metrics));
    });
  }

  /**
   * A Byzantine node is still a node: it signs its calls with its own key, announces a dataset like the
   * others, sends harmless statistics and answers train tasks with `train`'s result.
   */
  let attackers = 0;
  async function startAttacker(
    signal: AbortSignal,
    train: (params: NamedTensor[]) => { params: NamedTensor[]; sampleCount: number },
  ): Promise<void> {
    // Each attacker is a node of its own (its own key, so its own node id): a call of the last attacker's,
    // held by the gate while it was shut, can reach the next run's researcher and bind its id there.
    const nodeId = `attacker-${++attackers}`;
    const pair = await generateKeyPair({ commonName: nodeId });
    const signer = signingInterceptor({
      nodeId,
      sessionId: `${nodeId}-session`,
      certPem: pair.cert,
      keyPem: pair.key,
    });
    const client = createResearcherClient(createGrpcTransport({ baseUrl: nodes.url, interceptors: [signer] }));
    void runPollLoop({
      client,
      researcherUrl: "",
      nodeId,
      sessionId: `${nodeId}-session`,
      name: "attacker",
      version: "0",
      signal,
      log: () => {},
      backoff: { initialMs: 100, maxMs: 500 },
      waitSeconds: 5,
      execute: async (task) => {
        if (task.body.kind === "search") {
          return {
            kind: "datasets",
            datasets: [
              {
                id: "ds_evil",
                name: "evil",
                type: "csv",
                tags: ["skewed"],
                description: "",
                shape: [240, 5],
                columns: ["x1", "x2", "x3", "x4", "label"].map((name) => ({ name, dtype: "float64" })),
                sampleCount: 240,
                classes: [],
                target: "label",
                createdAt: "2026-01-01T00:00:00Z",
              },
            ],
          };
        }
        if (task.body.kind === "stats") {
          return {
            kind: "stats",
            columns: ["x1", "x2", "x3", "x4"].map((name) => ({
              name,
              count: 1,
              sum: 0,
              sumSquares: 0,
              min: 0,
              max: 0,
            })),
          };
        }
        if (task.body.kind === "train") {
          return { kind: "train", result: { ...train(task.body.params), trainLoss: 0.1, seconds: 0 } };
        }
        return { kind: "error", code: "invalid_input", message: "no" };
      },
    });
  }

  describe("with a fourth node that sends its parameters scaled ×100", () => {
    const stop = new AbortController();
    before(() =>
      startAttacker(stop.signal, (params) => ({
        params: params.map((p) => ({ ...p, data: Float32Array.from(p.data, (v) => v * 100) })),
        sampleCount: 180,
      })),
    );
    after(() => stop.abort());

    it("fedmedian still learns while fedavg is ruined", async (t) => {
      const median = await run("median-attacked", "{name: fedmedian}", 4);
      const mean = await run("fedavg-attacked", "{name: fedavg}", 4);
      t.diagnostic(
        `final accuracy under attack: fedmedian ${median.metrics.accuracy.toFixed(3)}, fedavg ${mean.metrics.accuracy.toFixed(3)}`,
      );
      assert.ok(median.metrics.accuracy > 0.85, `fedmedian ${JSON.stringify(median.metrics)}`);
      assert.ok(mean.metrics.accuracy < 0.7, `fedavg ${JSON.stringify(mean.metrics)}`);
    });

    it("fedavg with clip_norm learns too: the attacker's update is bounded to norm C", async (t) => {
      const clipped = await run("fedavg-clipped", "{name: fedavg, clip_norm: 1}", 4);
      t.diagnostic(`final accuracy under attack: fedavg clip_norm 1 ${clipped.metrics.accuracy.toFixed(3)}`);
      assert.ok(clipped.metrics.accuracy > 0.85, `fedavg clip_norm ${JSON.stringify(clipped.metrics)}`);
    });
  });

  describe("with a fourth node that claims 100,000 samples (its dataset announced 240) and sends 1e30", () => {
    const stop = new AbortController();
    before(() =>
      startAttacker(stop.signal, (params) => ({
        params: params.map((p) => ({ ...p, data: Float32Array.from(p.data, () => 1e30) })),
        sampleCount: 100_000,
      })),
    );
    after(() => stop.abort());

    it("under on_failure stop its replies are dropped and reported each round, and the run learns", async (t) => {
      const events: ExperimentEvent[] = [];
      const done = await run("liar-dropped", "{name: fedavg}", 3, events);
      const dropped = events.filter((e) => e.event === "error" && e.code === "invalid_update");
      t.diagnostic(`final accuracy ${done.metrics.accuracy.toFixed(3)}; ${dropped.length} reply(ies) dropped`);
      // One per round (6), and one in the final evaluation, which reports each node's failure too.
      assert.equal(dropped.length, 7, "one per round and one in the final evaluation");
      for (const e of dropped)
        assert.ok(e.event === "error" && /sample count 100000 exceeds the 240 samples of its dataset/.test(e.message));
      assert.ok(done.metrics.accuracy > 0.85, JSON.stringify(done.metrics));
    });
  });
});
