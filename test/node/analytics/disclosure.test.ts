import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countMetrics } from "../../../src/ml/metric-counts.js";
import {
  discloseColumnStats,
  discloseCounts,
  discloseDatasetInfo,
  discloseMetrics,
  discloseNamed,
  discloseOneHot,
  fineRuns,
  protectMinMax,
  publishCount,
  roundCount,
} from "../../../src/node/analytics/disclosure.js";

describe("publishCount / discloseCounts / discloseNamed / roundCount", () => {
  it("a lone count: exact from min_count up, else below (0 as well: an empty cell is published like a small one)", () => {
    assert.deepEqual(
      [0, 1, 9, 10, 250].map((n) => publishCount(n, 10)),
      ["below", "below", "below", 10, 250],
    );
    assert.equal(publishCount(3, 1), 3);
  });

  it("suppresses small and empty cells, then more until the suppressed cells hold min_count or more", () => {
    // 3 + 0 hold 3: the smallest published cell (12) joins them; all suppressed cells are "hidden".
    assert.deepEqual(discloseCounts([40, 3, 0, 12, 25], 10), [40, "hidden", "hidden", "hidden", 25]);
    // Two cells of 1: their sum (2) would pin each of them; 12 is hidden with them.
    assert.deepEqual(discloseCounts([40, 1, 1, 12], 10), [40, "hidden", "hidden", "hidden"]);
    // Small cells already holding min_count together need no secondary suppression.
    assert.deepEqual(discloseCounts([40, 6, 5, 12], 10), [40, "hidden", "hidden", 12]);
    assert.deepEqual(discloseCounts([40, 12], 10), [40, 12]);
    assert.deepEqual(discloseCounts([3, 2], 10), ["hidden", "hidden"]);
  });

  it("named cells beside the rows of unnamed rare ones: a remainder of 0 is structural, a small one hides the smallest name", () => {
    assert.deepEqual(discloseNamed([19, 18], 0, 10), [19, 18]);
    assert.deepEqual(discloseNamed([19, 18], 3, 10), [19, "hidden"]);
  });

  it("rounds sizes up to a multiple of the base", () => {
    assert.deepEqual(
      [0, 1, 10, 11, 303].map((n) => roundCount(n, 10)),
      [0, 10, 10, 20, 310],
    );
    assert.equal(roundCount(7, 1), 7);
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
    const published = discloseCounts([25, 3], 10);
    assert.deepEqual(published, ["hidden", "hidden"], "a lone small bin hides its only neighbour too");
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

  it("sends nothing from fewer test rows than min_count (regression sums of a few rows are their labels)", () => {
    const few = {
      values: { mse: 1 },
      samples: 3,
      counts: countMetrics(yTrue.slice(0, 3), yPred.slice(0, 3), "regression"),
    };
    assert.equal(discloseMetrics(few, 10), undefined);
    assert.deepEqual(discloseMetrics(few, 3), few);
  });
});

describe("discloseDatasetInfo", () => {
  it("rounds the sample count and class counts up to a multiple of min_count; the rest as it is", () => {
    const info = {
      id: "ds_1",
      name: "scans",
      type: "idx",
      tags: ["t"],
      description: "",
      shape: [28, 28],
      columns: [],
      sampleCount: 303,
      classes: [
        { name: "0", count: 290 },
        { name: "1", count: 13 },
      ],
      target: "",
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    assert.deepEqual(discloseDatasetInfo(info, 10), {
      ...info,
      sampleCount: 310,
      classes: [
        { name: "0", count: 290 },
        { name: "1", count: 20 },
      ],
    });
  });
});

describe("discloseColumnStats / discloseOneHot", () => {
  const policy = { minCount: 10, minMax: false };

  it("sends sums of min_count values or more, min and max rounded outward, missing rounded up", () => {
    const [big, small] = discloseColumnStats(
      [
        { name: "ldl", count: 40, sum: 4000, sumSquares: 400_500, min: 91.5, max: 148.2, missing: 3 },
        { name: "rare", count: 6, sum: 600, sumSquares: 60_100, min: 97, max: 103 },
      ],
      policy,
    );
    assert.deepEqual(big, { name: "ldl", count: 40, sum: 4000, sumSquares: 400_500, min: 90, max: 150, missing: 10 });
    assert.deepEqual(small, { name: "rare", count: 0, sum: 0, sumSquares: 0, min: 0, max: 0 });
  });

  it("drops the smallest category when the rarer categories' rows are fewer than min_count", () => {
    const [smoking] = discloseColumnStats(
      [
        {
          name: "smoking",
          count: 40,
          sum: 0,
          sumSquares: 0,
          min: 0,
          max: 0,
          categories: [
            { name: "current", count: 19 },
            { name: "never", count: 19 },
          ],
        },
      ],
      policy,
    );
    // 2 rows of rarer categories: one of the two smallest (the first) is dropped, its rows count as "other".
    assert.deepEqual(smoking.categories, [{ name: "never", count: 19 }]);
  });

  it("withholds one-hot sums that are small counts, and the smallest other slot with them", () => {
    const slot = (name: string, n: number) => ({ name, count: 40, sum: n, sumSquares: n, min: 0, max: 1 });
    const out = discloseOneHot(
      [slot("s=a", 19), slot("s=b", 19), slot("s=pipe", 2), slot("s=(other)", 0)],
      [[0, 1, 2, 3]],
      10,
    );
    assert.deepEqual(
      out.map((c) => [c.sum, c.min, c.max]),
      [
        [0, 0, 0],
        [19, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
      ],
    );
  });
});
