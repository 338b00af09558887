import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { InputError, RuntimeFailure } from "../../../src/common/errors.js";
import type { TablePreparation } from "../../../src/ml/table-prep.js";
import type { MetricValues, NamedTensor } from "../../../src/ml/types.js";
import { quantizationBound } from "../../../src/privacy/secagg/fixed-point.js";
import { secaggSchema } from "../../../src/researcher/run/secagg-config.js";
import { fixedPointFor, secureRound } from "../../../src/researcher/run/secure-round.js";
import { createHub, type Hub } from "../../../src/researcher/server/hub.js";
import type { TaskBody } from "../../../src/wire/index.js";
import { trainingArgs } from "../../ml/synthetic.js";
import { simulatedNode } from "../../support/simulated-secagg-node.js";

const LENGTH = 50;
const samples = [10, 20, 30, 40];
/** Node i "trains" to global + (i + 1) / 10 on every coordinate. */
const shift = (i: number) => (i + 1) / 10;

const PLAN = {
  data: { target: "label" },
  model: [{ dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
};

describe("secureRound() with simulated nodes through the hub", () => {
  const hub = createHub();
  const stop = new AbortController();
  const participants = samples.map((n, i) =>
    simulatedNode(hub, `n${i}`, {
      signal: stop.signal,
      samples: n,
      train: (g) => Float32Array.from(g, (v) => v + shift(i)),
    }),
  );
  after(() => {
    stop.abort();
    hub.close();
  });
  const global: NamedTensor[] = [
    { name: "w", shape: [LENGTH], dtype: "float32", data: Float32Array.from({ length: LENGTH }, (_, k) => k / 100) },
  ];
  const secagg = secaggSchema.parse({});
  const bound = quantizationBound(fixedPointFor(secagg, participants));

  /** A hub that lets `edit` change each task before it is sent (what a relay in the middle could do). */
  const relaying = (edit: (node: string, body: TaskBody) => TaskBody): Hub =>
    ({ send: (node, body, options) => hub.send(node, edit(node, body), options) }) as Hub;

  const round = (n: number, via: Hub = hub, config = secagg, preparation?: TablePreparation) =>
    secureRound({
      hub: via,
      experiment: "e",
      participants,
      round: n,
      planId: "p",
      planJson: JSON.stringify(PLAN),
      args: trainingArgs({ batchSize: 1, testRatio: 0, seed: 0 }),
      global,
      secagg: config,
      preparation,
      timeoutMs: 60_000,
    });

  const assertMeanOf = (params: Float32Array, nodes: number[]) => {
    const total = nodes.reduce((s, i) => s + samples[i], 0);
    const mean = nodes.reduce((s, i) => s + (samples[i] * shift(i)) / total, 0);
    for (let k = 0; k < LENGTH; k++) {
      assert.ok(Math.abs(params[k] - (k / 100 + mean)) <= bound + 1e-6, `coordinate ${k}: ${params[k]}`);
    }
  };

  it("gives the sample-weighted mean of the nodes' parameters within half a quantization step, and the total count", async () => {
    const { update, updates, failures } = await round(1);
    assert.deepEqual(failures, []);
    assert.equal(updates.length, 4);
    assert.equal(update.samples, 100);
    assertMeanOf(update.params[0], [0, 1, 2, 3]);
    // The researcher kept no node's parameters: only their metrics.
    for (const u of updates) assert.deepEqual(u.result.params, []);
  });

  it("sends every train task the round's table preparation, as a plain round does", async () => {
    const preparation: TablePreparation = {
      columns: [
        { name: "age", kind: "numeric", fill: 55 },
        { name: "sex", kind: "onehot", categories: ["F", "M"] },
      ],
    };
    const seen: unknown[] = [];
    const watching = relaying((_node, body) => {
      if (body.kind === "train") seen.push(body.preparation);
      return body;
    });
    const { failures } = await round(2, watching, secagg, preparation);
    assert.deepEqual(failures, []);
    assert.deepEqual(
      seen,
      samples.map(() => preparation),
    );
  });

  it("a share altered in transit fails authentication at its receiver, which drops out; the others' mean remains", async () => {
    const tampered = relaying((node, body) => {
      if (node !== "n1" || body.kind !== "train" || !body.secagg) return body;
      const shares = body.secagg.shares.map((s, i) =>
        i === 0 ? { ...s, box: Uint8Array.from(s.box, (b, j) => (j === 20 ? b ^ 1 : b)) } : s,
      );
      return { ...body, secagg: { ...body.secagg, shares } };
    });
    const { update, failures } = await round(2, tampered);
    assert.deepEqual(
      failures.map((f) => f.node),
      ["n1"],
    );
    assert.match(failures[0].message, /failed authentication/);
    assert.equal(update.samples, 80);
    assertMeanOf(update.params[0], [0, 2, 3]);
  });

  it("a share replayed from an earlier round fails authentication", async () => {
    let earlier: NonNullable<Extract<TaskBody, { kind: "train" }>["secagg"]>["shares"] | undefined;
    await round(
      3,
      relaying((node, body) => {
        if (node === "n2" && body.kind === "train" && body.secagg) earlier = body.secagg.shares;
        return body;
      }),
    );
    const replayed = relaying((node, body) =>
      node === "n2" && body.kind === "train" && body.secagg && earlier
        ? { ...body, secagg: { ...body.secagg, shares: earlier } }
        : body,
    );
    const { update, failures } = await round(4, replayed);
    assert.deepEqual(
      failures.map((f) => f.node),
      ["n2"],
    );
    assert.match(failures[0].message, /failed authentication/);
    assertMeanOf(update.params[0], [0, 1, 3]);
  });

  it("below the threshold the round fails, saying --resume can run it again", async () => {
    const lost = relaying((node, body) =>
      node === "n3" && body.kind === "train" ? { ...body, planId: "", secagg: undefined } : body,
    );
    await assert.rejects(
      round(5, lost, secaggSchema.parse({ threshold: 4 })),
      (e: Error) =>
        e instanceof RuntimeFailure &&
        /Round 5: secure aggregation cannot complete: 3 masked update\(s\) came back, below the threshold 4.*--resume/.test(
          e.message,
        ),
    );
  });
});

describe("secureRound() refuses what would reveal one node's update", () => {
  const hub = createHub();
  const stop = new AbortController();
  const nodes = Array.from({ length: 8 }, (_, i) =>
    simulatedNode(hub, `m${i}`, { signal: stop.signal, samples: 10, train: (g) => Float32Array.from(g, (v) => v + i) }),
  );
  after(() => {
    stop.abort();
    hub.close();
  });
  const global: NamedTensor[] = [{ name: "w", shape: [4], dtype: "float32", data: new Float32Array(4) }];
  /** A hub that counts the tasks sent and lets `edit` change each one. */
  const watching = (edit: (node: string, body: TaskBody) => TaskBody = (_n, b) => b) => {
    const sent: TaskBody[] = [];
    const via = {
      send: (node: string, body: TaskBody, options: Parameters<Hub["send"]>[2]) => {
        sent.push(body);
        return hub.send(node, edit(node, body), options);
      },
    } as Hub;
    return { via, sent };
  };
  const round = (
    participants: typeof nodes,
    via: Hub,
    config = secaggSchema.parse({}),
    identities?: () => Record<string, string>,
  ) =>
    secureRound({
      identities,
      hub: via,
      experiment: "e",
      participants,
      round: 1,
      planId: "p",
      planJson: JSON.stringify(PLAN),
      args: trainingArgs({ batchSize: 1, testRatio: 0, seed: 0 }),
      global,
      secagg: config,
      timeoutMs: 60_000,
    });

  for (const n of [1, 2]) {
    it(`a ${n}-node secure round is refused before any node is asked (exit 1)`, async () => {
      const { via, sent } = watching();
      await assert.rejects(
        round(nodes.slice(0, n), via),
        (e: Error) =>
          e instanceof RuntimeFailure &&
          new RegExp(`needs at least 3 nodes in a round, but only ${n} take part`).test(e.message),
      );
      assert.equal(sent.length, 0);
    });
  }

  it("SecAgg+ neighbours below the bound for the cohort are refused before any node is asked (exit 2)", async () => {
    const { via, sent } = watching();
    // 8 nodes, dropout 0.25, collusion 0.1: ⌈2.8⌉ + 1 = 4 neighbours at least.
    const config = secaggSchema.parse({ neighbours: 3, dropout: 0.25, collusion: 0.1, threshold: 3 });
    await assert.rejects(
      round(nodes, via, config),
      (e: Error) =>
        e instanceof InputError && /Invalid secagg.neighbours 3: 8 nodes .* need at least 4 neighbours/.test(e.message),
    );
    assert.equal(sent.length, 0);
  });

  it("a survivor graph split by dropouts is not unmasked: the round fails before Unmasking", async () => {
    // k = 2 (a ring; allowed for 8 nodes with dropout 0.1 and no collusion): m0's two ring neighbours
    // drop after sharing keys, which cuts m0 off.
    let cut: string[] = [];
    const { via, sent } = watching((node, body) => {
      if (body.kind === "secagg" && body.phase === "shareKeys" && node === "m0") {
        cut = body.peers.map((p) => p.id).filter((id) => id !== "m0");
      }
      if (body.kind === "train" && cut.includes(node)) return { ...body, planId: "", secagg: undefined };
      return body;
    });
    const config = secaggSchema.parse({ neighbours: 2, collusion: 0, threshold: 2 });
    await assert.rejects(
      round(nodes, via, config),
      (e: Error) => e instanceof RuntimeFailure && /neighbourhood graph is split by the dropouts/.test(e.message),
    );
    assert.equal(cut.length, 2);
    assert.ok(!sent.some((b) => b.kind === "secagg" && (b.phase === "unmask" || b.phase === "consistency")));
  });

  it("with verify (the default), a node whose keys carry no valid signature is left out at once", async () => {
    const { via } = watching();
    const forging = {
      send: async (node: string, body: TaskBody, options: Parameters<Hub["send"]>[2]) => {
        const reply = await via.send(node, body, options);
        // An impostor answering for m1: keys without its signature.
        if (node === "m1" && reply.kind === "secagg" && reply.phase === "keys") return { ...reply, signed: undefined };
        return reply;
      },
    } as Hub;
    const { failures, update } = await round(nodes.slice(0, 5), forging);
    assert.deepEqual(
      failures.map((f) => [f.node, f.code]),
      [["m1", "secagg_verify"]],
    );
    assert.equal(update.samples, 40);
  });

  it("with verify, a node whose keys are signed by another identity than the one its requests proved is left out", async () => {
    const other = `sha256:${"0".repeat(64)}`;
    const { failures, update } = await round(nodes.slice(0, 4), hub, secaggSchema.parse({}), () => ({ m2: other }));
    assert.deepEqual(
      failures.map((f) => [f.node, f.code]),
      [["m2", "secagg_verify"]],
    );
    assert.match(failures[0].message, new RegExp(`but its requests by ${other}`));
    assert.equal(update.samples, 30);
  });
});

describe("secureRound() carries the loss and validation counts inside the masked vector", () => {
  const hub = createHub();
  const stop = new AbortController();
  // Confusion [[tn, fp], [fn, tp]] per node; node 2 has no test rows.
  const confusions = [[5, 1, 2, 7], [10, 0, 3, 2], undefined];
  const losses = [0.25, 0.5, 1.5];
  const counts = [30, 10, 20];
  const metrics = (i: number): MetricValues | undefined => {
    const confusion = confusions[i];
    if (!confusion) return undefined;
    const rows = confusion.reduce((a, b) => a + b, 0);
    return {
      values: { accuracy: 0, loss: 0.1 * (i + 1) },
      samples: rows,
      counts: { rows, classes: 2, confusion, scores: [] },
    };
  };
  const participants = counts.map((n, i) =>
    simulatedNode(hub, `m${i}`, {
      signal: stop.signal,
      samples: n,
      train: (g) => g,
      report: { trainLoss: losses[i], globalMetrics: metrics(i), localMetrics: metrics(i) },
    }),
  );
  after(() => {
    stop.abort();
    hub.close();
  });

  it("gives the researcher only their sums: the weighted loss and the metrics of all test rows together", async () => {
    const { updates, pooled, failures } = await secureRound({
      hub,
      experiment: "e",
      participants,
      round: 1,
      planId: "p",
      planJson: JSON.stringify(PLAN),
      args: trainingArgs({ testOnGlobal: true, testOnLocal: true, metrics: ["accuracy", "f1", "loss"] }),
      global: [{ name: "w", shape: [4], dtype: "float32", data: new Float32Array(4) }],
      secagg: secaggSchema.parse({}),
      timeoutMs: 60_000,
    });
    assert.deepEqual(failures, []);
    for (const u of updates) {
      assert.equal(u.result.trainLoss, 0);
      assert.equal(u.result.globalMetrics, undefined);
      assert.equal(u.result.localMetrics, undefined);
    }
    // Σ samples·loss / Σ samples, to 16 fractional bits.
    assert.ok(Math.abs(pooled.loss - (30 * 0.25 + 10 * 0.5 + 20 * 1.5) / 60) < 1e-4, `loss ${pooled.loss}`);
    // Pooled confusion [[15, 1], [5, 9]]: accuracy 24/30, f1 = 2·9 / (2·9 + 1 + 5).
    const expected = { accuracy: 24 / 30, f1: 18 / 24, loss: (15 * 0.1 + 15 * 0.2) / 30 };
    for (const set of [pooled.metrics.global, pooled.metrics.local]) {
      assert.ok(set);
      assert.deepEqual(Object.keys(set), ["accuracy", "f1", "loss"]);
      assert.equal(set.accuracy, expected.accuracy);
      assert.equal(set.f1, expected.f1);
      assert.ok(Math.abs(set.loss - expected.loss) < 1e-4);
    }
  });
});
