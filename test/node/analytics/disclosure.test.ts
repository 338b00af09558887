import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countMetrics } from "../../../src/ml/metric-counts.js";
import {
  discloseMetrics,
  fineRuns,
  protectMinMax,
  publishCells,
  publishCount,
} from "../../../src/node/analytics/disclosure.js";

describe("publishCount / publishCells", () => {
  it("hides counts from 1 to min_count − 1, keeps 0 and min_count or more", () => {
    assert.deepEqual(
      [0, 1, 9, 10, 250].map((n) => publishCount(n, 10)),
      [0, "below", "below", 10, 250],
    );
    assert.equal(publishCount(3, 1), 3);
  });

  it("hides the smallest other non-zero count when a lone hidden count could be worked out from the total", () => {
    assert.deepEqual(publishCells([40, 3, 0, 12, 25], 10), [40, "below", 0, "hidden", 25]);
    // Two or more hidden counts already keep each other: nothing more is hidden.
    assert.deepEqual(publishCells([40, 3, 2, 12], 10), [40, "below", "below", 12]);
    assert.deepEqual(publishCells([40, 12], 10), [40, 12]);
  });
});

describe("protectMinMax", () => {
  it("is exact when the node allows it", () => {
    assert.deepEqual(protectMinMax(18.25, 93.5, true), { min: 18.25, max: 93.5, grid: 0 });
  });

  it("rounds outward to a power of ten not above the spread, so each true value stays within one step", () => {
    assert.deepEqual(protectMinMax(18.25, 93.5, false), { min: 10, max: 100, grid: 10 });
    assert.deepEqual(protectMinMax(0.0723, 0.5486, false), { min: 0, max: 0.6, grid: 0.1 });
    assert.deepEqual(protectMinMax(-3.2, 2.9, false), { min: -4, max: 3, grid: 1 });
    assert.deepEqual(protectMinMax(5, 5, false), { min: 5, max: 6, grid: 1 });
    assert.deepEqual(protectMinMax(0, 0, false), { min: 0, max: 1, grid: 1 });
    for (const [min, max] of [
      [1003.7, 1005.2],
      [-0.0042, 0.0131],
      [123456, 987654],
    ]) {
      const p = protectMinMax(min, max, false);
      assert.ok(
        p.min <= min && min < p.min + p.grid && p.max > max && max >= p.max - p.grid,
        JSON.stringify([min, max, p]),
      );
    }
  });
});

describe("fineRuns", () => {
  it("tiles only the bins published exactly, each run holding at least min_count values", () => {
    // Two bins of 4 fine bins: the first holds 25 values, the second 3 (hidden).
    const fine = [5, 0, 12, 8, 1, 2, 0, 0];
    const published = publishCells([25, 3], 10);
    assert.deepEqual(published, ["hidden", "below"], "a lone hidden bin hides its only neighbour too");
    assert.deepEqual(fineRuns(fine, 4, published, 10), []);
    // One bin of 6 fine bins holding 41 values: runs close at 10 or more; the short tail joins the last run.
    const runs = fineRuns([12, 0, 3, 9, 15, 2], 6, [41], 10);
    assert.deepEqual(
      runs.map((r) => [r.start, r.end, r.count]),
      [
        [0, 1, 12],
        [1, 4, 12],
        [4, 6, 17],
      ],
    );
    // An empty bin (exactly 0) needs no runs; the others tile their own bin.
    assert.deepEqual(
      fineRuns([5, 0, 12, 8, 0, 0, 0, 0, 9, 30, 0, 1], 4, [25, 0, 40], 10).map((r) => [r.start, r.end, r.count]),
      [
        [0, 4, 25],
        [8, 12, 40],
      ],
    );
  });
});

describe("discloseMetrics", () => {
  const yTrue = Float32Array.from({ length: 30 }, (_, i) => i % 2);
  const yPred = Float32Array.from({ length: 30 }, (_, i) => i / 30);
  const metrics = { values: { accuracy: 0.5 }, samples: 30, counts: countMetrics(yTrue, yPred, "binary") };

  it("sends score runs of at least min_count rows, never one row's bin; confusion counts as they are", () => {
    assert.equal(metrics.counts.scores?.[0].lo.length, 30); // one fine bin per row before disclosure
    const sent = discloseMetrics(metrics, 10);
    const runs = sent?.counts?.scores?.[0];
    assert.ok(runs && runs.lo.length === 3);
    assert.deepEqual(
      runs.positives.map((p, i) => p + runs.negatives[i]),
      [10, 10, 10],
    );
    assert.deepEqual(sent?.counts?.confusion, metrics.counts.confusion);
  });

  it("with min_count 1 sends the fine bins", () => {
    assert.deepEqual(discloseMetrics(metrics, 1), metrics);
  });
});
