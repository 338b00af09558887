import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createWarmRounds } from "../../../src/ml/engine/warm-rounds.js";
import { trainLocal } from "../../../src/ml/train.js";
import type { NamedTensor } from "../../../src/ml/types.js";
import { logisticPlan, separableData, trainingArgs } from "../synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));

const data = separableData(120);
const plan = logisticPlan();
const args = trainingArgs({ updates: 6, testOnGlobal: true, testOnLocal: true });
const sameBits = (a: NamedTensor[], b: NamedTensor[]) =>
  assert.deepEqual(
    a.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")),
    b.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")),
  );

describe("warm rounds", () => {
  it("a second round of one experiment builds no network and trains to the very bits of a cold round", async () => {
    const rounds = createWarmRounds();
    const warm = { rounds, experiment: "e1" };
    const cold1 = await trainLocal({ plan, data, args, round: 1 });
    const cold2 = await trainLocal({ plan, data, args, round: 2, params: cold1.params });
    const first = await trainLocal({ plan, data, args, round: 1, warm });
    assert.equal(rounds.builds, 1);
    assert.ok(first.phases!.build > 0);
    const second = await trainLocal({ plan, data, args, round: 2, params: first.params, warm });
    // Round 1 starts from the seeded initial weights, round 2 from the parameters it was sent.
    const again = await trainLocal({ plan, data, args, round: 1, warm });
    assert.equal(rounds.builds, 1, "the kept network was rebuilt");
    sameBits(first.params, cold1.params);
    sameBits(second.params, cold2.params);
    sameBits(again.params, cold1.params);
    assert.deepEqual(second.globalMetrics, cold2.globalMetrics);
    assert.deepEqual(second.localMetrics, cold2.localMetrics);
    rounds.drop();
  });

  it("another experiment drops the kept network, and so does a failed round", async () => {
    const rounds = createWarmRounds();
    const tensors = tf.memory().numTensors;
    await trainLocal({ plan, data, args, warm: { rounds, experiment: "e1" } });
    await trainLocal({ plan, data, args, warm: { rounds, experiment: "e2" } });
    assert.equal(rounds.builds, 2);
    assert.match(rounds.kept ?? "", /"e2"/);
    const wrong: NamedTensor[] = [{ name: "nope", shape: [1], dtype: "float32", data: new Float32Array(1) }];
    await assert.rejects(trainLocal({ plan, data, args, params: wrong, warm: { rounds, experiment: "e2" } }));
    assert.equal(rounds.kept, undefined);
    assert.equal(tf.memory().numTensors, tensors, "a network's tensors outlived it");
  });

  it("drops the kept network once idle", async () => {
    const dropped = new Promise<string>((resolve) => {
      const rounds = createWarmRounds({ idleMs: 10, onDrop: resolve });
      void trainLocal({ plan, data, args, warm: { rounds, experiment: "idle" } });
    });
    // The idle timer does not hold the process open (a serving node has its poll for that): this test does.
    const alive = setInterval(() => {}, 1000);
    try {
      assert.match(await dropped, /"idle"/);
    } finally {
      clearInterval(alive);
    }
  });
});
