import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuntimeFailure } from "../../../src/common/errors.js";
import {
  type AggregatorConfig,
  createAggregator,
  parseAggregatorConfig,
} from "../../../src/researcher/aggregators/index.js";
import { f32, snapshot, update } from "./helpers.js";

// Behaviour every aggregator shares, run against each of them.
const configs: AggregatorConfig[] = [
  "fedavg",
  "fedavgm",
  "fedprox",
  "scaffold",
  "fedadam",
  "fedyogi",
  "fedadagrad",
  "fedmedian",
  "trimmed_mean",
].map((name) => parseAggregatorConfig({ name }));
configs.push({ name: "krum", f: 0 }, { name: "multikrum", f: 0, m: 2 });

const global = f32([0.5, -1, 2], [3]);
const updates = [
  update("a", 3, [[1, 2, 3], [4]], [[0.1, 0.1, 0.1], [0.1]]),
  update("b", 1, [[2, 1, 0], [-4]], [[0.2, 0.2, 0.2], [0.2]]),
  update("c", 2, [[0, 0, 1], [1]], [[0.3, 0.3, 0.3], [0.3]]),
];

for (const config of configs) {
  describe(`${config.name} (contract)`, () => {
    const aggregator = createAggregator(config);

    it("has the name of its config", () => assert.equal(aggregator.name, config.name));

    it("aggregate() returns new finite arrays shaped like the model and leaves its inputs alone", () => {
      const before = snapshot(updates);
      const globalBefore = global.map((t) => Array.from(t));
      const out = aggregator.aggregate({ round: 1, global, updates, state: {} });
      assert.deepEqual(
        out.params.map((t) => t.length),
        [3, 1],
      );
      for (const t of out.params) {
        assert.ok(t instanceof Float32Array && t.every(Number.isFinite));
        assert.ok(!global.includes(t) && !updates.some((u) => u.params.includes(t)));
      }
      assert.deepEqual(snapshot(updates), before);
      assert.deepEqual(
        global.map((t) => Array.from(t)),
        globalBefore,
      );
      assert.deepEqual(JSON.parse(JSON.stringify(out.state)), out.state, "state is plain JSON");
    });

    it("aggregate() throws a RuntimeFailure on no updates", () => {
      assert.throws(
        () => aggregator.aggregate({ round: 7, global, updates: [], state: {} }),
        (e: unknown) =>
          e instanceof RuntimeFailure && e.message === `Cannot aggregate round 7 with ${config.name}: no updates`,
      );
    });

    it("aggregate() names the node whose update is shaped unlike the model", () => {
      const bad = [...updates, update("d", 1, [[1, 2], [3]], [[0, 0], [0]])];
      assert.throws(() => aggregator.aggregate({ round: 2, global, updates: bad, state: {} }), {
        message: `Cannot aggregate round 2 with ${config.name}: node "d" sent 2 values for tensor 0, the model has 3`,
      });
    });

    it("aggregate() names the node that sent a non-finite value", () => {
      const bad = [...updates, update("nan", 1, [[1, 2, NaN], [3]], [[0, 0, 0], [0]])];
      assert.throws(() => aggregator.aggregate({ round: 2, global, updates: bad, state: {} }), {
        message: `Cannot aggregate round 2 with ${config.name}: node "nan" sent a non-finite value in tensor 0`,
      });
    });
  });
}
