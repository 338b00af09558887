import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRouterTransport } from "@connectrpc/connect";
import { countsProblem } from "../../../src/ml/metric-counts.js";
import { parsePlan, planId, planJson } from "../../../src/ml/plan.js";
import type { MetricValues } from "../../../src/ml/types.js";
import { runPollLoop, type TaskExecutor } from "../../../src/node/serve/poll-loop.js";
import { createRunningMean } from "../../../src/researcher/aggregators/running-mean.js";
import { createRelayExecutor } from "../../../src/researcher/relay/relay.js";
import { pooledMetrics } from "../../../src/researcher/run/pooled-metrics.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import { createResearcherService } from "../../../src/researcher/server/service.js";
import {
  createResearcherClient,
  type DatasetInfo,
  type ReplyBody,
  ResearcherService,
  type TrainTaskBody,
} from "../../../src/wire/index.js";
import { DEADLINE_MS, until } from "../../support/wait.js";

/** Relay tests over in-memory transports: the real hubs, services, poll loops and relay executor. */

const plan = parsePlan({
  data: { target: "y" },
  model: [{ dense: { units: 2 } }, { dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const tensors = () => [
  { name: "0.dense.kernel", shape: [3, 2], dtype: "float32" as const, data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  { name: "0.dense.bias", shape: [2], dtype: "float32" as const, data: Float32Array.from([0.5, -0.5]) },
];

function memoryClient(hub: Hub) {
  const transport = createRouterTransport(({ service }) => service(ResearcherService, createResearcherService(hub)));
  return createResearcherClient(transport);
}

function dataset(index: number, rows: number): DatasetInfo {
  return {
    id: `d${index}`,
    name: `site-${index}`,
    type: "csv",
    tags: ["t"],
    description: "",
    shape: [rows, 4],
    columns: ["a", "b", "c", "y"].map((name) => ({ name, dtype: "float" })),
    sampleCount: rows,
    classes: [],
    target: "y",
    createdAt: `2026-01-0${index + 1}T00:00:00Z`,
  };
}

/** Node `index` holds `rows` rows, trains to global + index + 1, and validates with confusion counts of its own. */
function site(index: number, rows: number, refuse?: ReplyBody): TaskExecutor {
  return async (task) => {
    const body = task.body;
    if (body.kind === "list") return { kind: "datasets", datasets: [dataset(index, rows)] };
    if (body.kind !== "train") return { kind: "error", code: "invalid_input", message: `no ${body.kind}` };
    if (refuse) return refuse;
    assert.equal(body.datasetId, `d${index}`, "each node trains its own dataset");
    const samples = rows - index;
    return {
      kind: "train",
      result: {
        params: body.params.map((t) => ({ ...t, data: (t.data as Float32Array).map((v) => v + index + 1) })),
        sampleCount: samples,
        trainLoss: 0.1 * (index + 1),
        globalMetrics: metrics(index, 10),
        seconds: 0,
      },
    };
  };
}

function metrics(index: number, rows: number): MetricValues {
  const tp = index + 2;
  const confusion = [rows - tp - 1, 1, 0, tp];
  // Score runs that overlap from one node to the next, as real nodes' do.
  const scores = [
    { positive: 1, lo: [100, 40_000], hi: [200, 40_100 + index], positives: [0, tp], negatives: [rows - tp, 0] },
  ];
  return {
    values: { accuracy: (rows - 1) / rows },
    samples: rows,
    counts: { rows, classes: 2, confusion, scores: scores.map((r) => ({ ...r, wins: tp * (rows - tp) })) },
  };
}

function trainTask(overrides: Partial<TrainTaskBody> = {}): TrainTaskBody {
  return {
    kind: "train",
    datasetId: "relay:t",
    planId: planId(plan),
    planJson: planJson(plan),
    round: 1,
    args: {
      epochs: 1,
      updates: 0,
      batchSize: 8,
      testRatio: 0.2,
      testOnGlobal: true,
      testOnLocal: false,
      metrics: ["accuracy"],
      seed: 0,
      fedproxMu: 0,
    },
    params: tensors(),
    aggregation: "weighted_mean",
    ...overrides,
  };
}

/** An upstream hub, a relay polling it, and `sites` polling the relay; `use` gets the upstream hub. */
async function withRelay(sites: TaskExecutor[], use: (upstream: Hub) => Promise<void>): Promise<void> {
  const upstream = createHub({ pollWindowMs: 2000 });
  const below = createHub({ pollWindowMs: 2000 });
  const stop = new AbortController();
  const loop = (hub: Hub, id: string, execute: TaskExecutor) =>
    runPollLoop({
      client: memoryClient(hub),
      researcherUrl: "mem",
      nodeId: id,
      name: id,
      version: "t",
      execute,
      signal: stop.signal,
      log: () => {},
      waitSeconds: 2,
    });
  const loops = sites.map((execute, i) => loop(below, `site-${i}`, execute));
  await until(() => below.nodes().filter((n) => n.online).length === sites.length, "the sites to poll the relay");
  const relayLog: string[] = [];
  loops.push(
    loop(
      upstream,
      "relay-a",
      createRelayExecutor({ hub: below, name: "relay-a", roundTimeoutMs: DEADLINE_MS, log: (l) => relayLog.push(l) }),
    ),
  );
  await until(() => upstream.node("relay-a")?.online === true, "the relay to poll upstream");
  try {
    await use(upstream);
  } finally {
    stop.abort();
    await Promise.all(loops);
    upstream.close();
    below.close();
  }
}

const send = (hub: Hub, body: Parameters<Hub["send"]>[1]) =>
  hub.send("relay-a", body, { timeoutMs: DEADLINE_MS, experiment: "e" });

describe("fbm-researcher relay (in-memory)", () => {
  it("announces its nodes' datasets as one and answers a round with their sample-weighted mean", async () => {
    await withRelay([site(0, 30), site(1, 50), site(2, 20)], async (upstream) => {
      const found = await send(upstream, { kind: "search", tags: ["t"] });
      assert.equal(found.kind, "datasets");
      if (found.kind !== "datasets") return;
      assert.equal(found.datasets.length, 1);
      assert.equal(found.datasets[0].id, "relay:t");
      assert.equal(found.datasets[0].sampleCount, 100);
      assert.deepEqual(found.datasets[0].shape, [100, 4]);

      const reply = await send(upstream, trainTask());
      assert.equal(reply.kind, "train", JSON.stringify(reply));
      if (reply.kind !== "train") return;
      // What the researcher would have folded with the three nodes direct: Σ samples·x / Σ samples.
      const direct = createRunningMean([6, 2]);
      const samples = [30, 49, 18];
      for (const [i, n] of samples.entries())
        direct.add(
          tensors().map((t) => t.data.map((v) => v + i + 1)),
          n,
        );
      const want = direct.result();
      assert.equal(reply.result.sampleCount, 97);
      for (const [i, t] of reply.result.params.entries()) {
        for (const [j, v] of t.data.entries()) assert.ok(Math.abs(v - want.params[i][j]) < 1e-6, `${t.name}[${j}]`);
      }
      assert.deepEqual(
        reply.result.params.map((t) => [t.name, t.shape]),
        tensors().map((t) => [t.name, t.shape]),
      );
      const loss = (30 * 0.1 + 49 * 0.2 + 18 * 0.3) / 97;
      assert.ok(Math.abs((reply.result.trainLoss ?? 0) - loss) < 1e-12);
      // Pooled metrics: the researcher pooling the relay's one reply gets what it pools from the three.
      const viaRelay = pooledMetrics([reply.result.globalMetrics], "binary").values;
      const allDirect = pooledMetrics(
        [0, 1, 2].map((i) => metrics(i, 10)),
        "binary",
      ).values;
      assert.deepEqual(viaRelay, allDirect);
      assert.equal(reply.result.globalMetrics?.samples, 30);
      // …and the counts it sends are those of one node: disjoint score runs, which the researcher's check takes.
      const counts = reply.result.globalMetrics?.counts;
      assert.ok(counts);
      assert.equal(countsProblem(counts, 30), undefined);
      assert.deepEqual(counts.scores?.[0].lo, [100, 40_000]);
      assert.deepEqual(counts.scores?.[0].hi, [200, 40_102]);
    });
  });

  it("refuses, with relay_unsupported, what one averaged update cannot keep", async () => {
    await withRelay([site(0, 30), site(1, 50)], async (upstream) => {
      await send(upstream, { kind: "search", tags: ["t"] });
      const { aggregation: _none, ...perUpdate } = trainTask();
      const cases: [string, Parameters<Hub["send"]>[1], RegExp][] = [
        ["an aggregator needing each update", perUpdate, /needs each node's update/],
        ["SCAFFOLD", trainTask({ algorithmExtension: "scaffold" }), /SCAFFOLD/],
        [
          "differential privacy",
          trainTask({
            args: { ...trainTask().args, dp: { mode: "local", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 } },
          }),
          /local differential privacy/,
        ],
        [
          "secure aggregation",
          trainTask({ secagg: { session: "s", clip: 1, bits: 16, shares: [] } }),
          /secure aggregation/,
        ],
        ["statistics", { kind: "stats", datasetId: "relay:t", planJson: "{}" }, /stats tasks/],
      ];
      for (const [what, body, message] of cases) {
        const reply = await send(upstream, body);
        assert.equal(reply.kind, "error", what);
        if (reply.kind !== "error") continue;
        assert.equal(reply.code, "relay_unsupported", what);
        assert.match(reply.message, message, what);
        assert.ok(!reply.message.includes("\n"), `${what}: one line`);
      }
      // A task that trains nothing (the approval check, the final evaluation) needs no aggregation.
      const check = await send(upstream, { ...perUpdate, round: 0, args: { ...perUpdate.args, epochs: 0 } });
      assert.equal(check.kind, "train", JSON.stringify(check));
    });
  });

  it("passes a node's plan refusal up with its code, so the researcher's approval check waits for it", async () => {
    const waiting: ReplyBody = {
      kind: "error",
      code: "plan_not_approved",
      message: "approve it with fbm-node plan approve",
    };
    await withRelay([site(0, 30), site(1, 50, waiting)], async (upstream) => {
      await send(upstream, { kind: "search", tags: ["t"] });
      const reply = await send(upstream, trainTask({ round: 0, args: { ...trainTask().args, epochs: 0 } }));
      assert.equal(reply.kind, "error");
      if (reply.kind !== "error") return;
      assert.equal(reply.code, "plan_not_approved");
      assert.match(reply.message, /site-1/);
    });
  });

  it("leaves a node that fails out of its update, and says so", async () => {
    const broken: ReplyBody = { kind: "error", code: "failed", message: "disk full" };
    await withRelay([site(0, 30), site(1, 50, broken)], async (upstream) => {
      await send(upstream, { kind: "search", tags: ["t"] });
      const reply = await send(upstream, trainTask());
      assert.equal(reply.kind, "train", JSON.stringify(reply));
      if (reply.kind !== "train") return;
      assert.equal(reply.result.sampleCount, 30, "only site-0's samples count");
      assert.deepEqual(
        [...reply.result.params[0].data],
        [...tensors()[0].data].map((v) => v + 1),
      );
    });
  });

  it("answers with the nodes' code when every node fails", async () => {
    const broken: ReplyBody = { kind: "error", code: "failed", message: "disk full" };
    await withRelay([site(0, 30, broken)], async (upstream) => {
      await send(upstream, { kind: "search", tags: ["t"] });
      const reply = await send(upstream, trainTask());
      assert.equal(reply.kind, "error");
      if (reply.kind === "error") {
        assert.equal(reply.code, "failed");
        assert.match(reply.message, /site-0: disk full/);
      }
    });
  });

  it("refuses a train task for a dataset it never announced", async () => {
    await withRelay([site(0, 30)], async (upstream) => {
      const reply = await send(upstream, trainTask());
      assert.equal(reply.kind, "error");
      if (reply.kind === "error") assert.equal(reply.code, "invalid_input");
    });
  });
});
