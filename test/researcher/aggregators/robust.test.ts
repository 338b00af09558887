import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import {
  createAggregator,
  createKrum,
  createMultiKrum,
  createTrimmedMean,
} from "../../../src/researcher/aggregators/index.js";
import { krumScores } from "../../../src/researcher/aggregators/krum.js";
import { assertTensors, f32, update } from "./helpers.js";

// Four honest nodes and one sending 100 × node u3's parameters.
const global = f32([0, 0], [0]);
const honest = [
  update("u1", 1, [[1, 2], [3]]),
  update("u2", 2, [[2, 3], [4]]),
  update("u3", 1, [[3, 4], [5]]),
  update("u4", 1, [[2, 2], [4]]),
];
const outlier = update("evil", 1, [[300, 400], [500]]);
const updates = [...honest, outlier];
const equalWeights = updates.map((u) => ({ ...u, samples: 1 }));
const run = (config: Parameters<typeof createAggregator>[0], list = updates) =>
  createAggregator(config).aggregate({ round: 1, global, updates: list, state: {} }).params;

describe("robust aggregators against an outlier", () => {
  it("fedavg is dragged by the outlier", () => {
    assertTensors(run({ name: "fedavg" }, equalWeights), [[61.6, 82.2], [103.2]]);
  });

  it("fedmedian takes the coordinate-wise median and ignores the outlier", () => {
    assertTensors(run({ name: "fedmedian" }), [[2, 3], [4]]);
  });

  it("fedmedian of an even count averages the two middle values", () => {
    assertTensors(run({ name: "fedmedian" }, honest), [[2, 2.5], [4]]);
  });

  it("trimmed_mean drops ⌊β·n⌋ values on each side, whatever the sample counts", () => {
    assertTensors(run({ name: "trimmed_mean", beta: 0.2 }), [[7 / 3, 3], [13 / 3]]);
  });

  it("trimmed_mean with ⌊β·n⌋ = 0 is the plain mean", () => {
    assertTensors(run({ name: "trimmed_mean", beta: 0.1 }), [[61.6, 82.2], [103.2]]);
  });

  it("krum scores each update by its n − f − 2 nearest squared distances", () => {
    const scores = krumScores(updates, 2);
    assert.deepEqual(scores.slice(0, 4), [5, 4, 9, 3]);
    assert.ok(scores[4] > 1e5);
  });

  it("krum returns the lowest-scoring update as it is", () => {
    assertTensors(run({ name: "krum", f: 1 }), [[2, 2], [4]]);
  });

  it("multikrum averages the m best updates weighted by samples", () => {
    // best three: u4 (1 sample), u2 (2), u1 (1)
    assertTensors(run({ name: "multikrum", f: 1, m: 3 }), [[1.75, 2.5], [3.75]]);
  });

  it("multikrum keeps n − f updates when m is not given", () => {
    assertTensors(run({ name: "multikrum", f: 1 }), [[2, 2.8], [4]]);
  });
});

describe("robust aggregator limits", () => {
  it("krum refuses a round with n ≤ 2f + 2 updates", () => {
    assert.throws(() => run({ name: "krum", f: 1 }, honest), {
      message: "Cannot aggregate round 1 with krum: f = 1 needs more than 4 updates, got 4",
    });
  });

  it("multikrum refuses m above the number of updates", () => {
    assert.throws(() => run({ name: "multikrum", f: 1, m: 6 }), /m = 6 is more than the 5 updates/);
  });

  it("factories refuse invalid options with an InputError", () => {
    assert.throws(
      () => createTrimmedMean({ beta: 0.5 }),
      (e: unknown) => e instanceof InputError && /beta must be at least 0 and below 0.5, got 0.5/.test(e.message),
    );
    assert.throws(() => createKrum({ f: -1 }), InputError);
    assert.throws(() => createMultiKrum({ f: 1, m: 0 }), InputError);
  });
});
