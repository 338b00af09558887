import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countMetrics } from "../../../src/ml/metric-counts.js";
import { computeMetrics } from "../../../src/ml/metrics.js";
import type { MetricValues } from "../../../src/ml/types.js";
import { pooledMetrics } from "../../../src/researcher/run/pooled-metrics.js";

const f32 = (v: number[]) => Float32Array.from(v);

describe("pooledMetrics", () => {
  // Node A: all negatives, one false positive; node B: mostly positives.
  const a = { yTrue: f32([0, 0, 0, 0]), yPred: f32([0.1, 0.2, 0.7, 0.3]), loss: 0.4 };
  const b = { yTrue: f32([1, 1, 1, 0]), yPred: f32([0.9, 0.8, 0.4, 0.2]), loss: 0.2 };
  const reply = (n: typeof a): MetricValues => ({
    values: { ...computeMetrics(["f1", "accuracy"], n.yTrue, n.yPred, "binary"), loss: n.loss },
    samples: n.yTrue.length,
    counts: countMetrics(n.yTrue, n.yPred, "binary"),
  });

  it("computes the figures of the concatenated rows, and the loss as a sample-weighted mean", () => {
    const { values } = pooledMetrics([reply(a), reply(b)], "binary");
    const all = computeMetrics(
      ["f1", "accuracy"],
      f32([0, 0, 0, 0, 1, 1, 1, 0]),
      f32([0.1, 0.2, 0.7, 0.3, 0.9, 0.8, 0.4, 0.2]),
      "binary",
    );
    assert.deepEqual(values, { accuracy: all.accuracy, f1: all.f1, loss: (0.4 * 4 + 0.2 * 4) / 8 });
    // Node A's f1 is 0 (no positives): a weighted mean would say 0.4, the pooled rows say 2/3.
    assert.ok(Math.abs(all.f1 - 2 / 3) < 1e-12);
  });

  it("falls back to the sample-weighted mean when a node sent no counts", () => {
    const { values } = pooledMetrics([reply(a), { ...reply(b), counts: undefined }], "binary");
    assert.equal(values?.f1, (reply(a).values.f1 * 4 + reply(b).values.f1 * 4) / 8);
  });
});
