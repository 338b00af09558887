import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  binnedAuc,
  countMetrics,
  countsProblem,
  mergeScoreRuns,
  metricsFromCounts,
  poolCounts,
  pooledAuc,
  SCORE_BINS,
} from "../../src/ml/metric-counts.js";
import { classificationMetrics, computeMetrics, regressionMetrics, type TaskKind } from "../../src/ml/metrics.js";
import { createRng } from "../../src/ml/rng.js";

/** Three label-skewed "nodes" of predictions; each node's rows are a slice of the concatenation. */
function nodes(kind: TaskKind, seed: number, sizes = [40, 7, 90]) {
  const rng = createRng(seed);
  const width = kind === "multiclass" ? 3 : 1;
  return sizes.map((rows, node) => {
    const yTrue = new Float32Array(rows);
    const yPred = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      if (kind === "regression") {
        yTrue[r] = node * 2 + rng.next() * 3;
        yPred[r] = yTrue[r] + (rng.next() - 0.5) * (node + 1);
        continue;
      }
      // Skew: node 0 mostly class 0, node 2 mostly the last class; scores loosely follow the label.
      const bias = node / 2;
      const label = kind === "binary" ? (rng.next() < 0.2 + 0.6 * bias ? 1 : 0) : Math.floor(rng.next() * 3);
      yTrue[r] = label;
      if (kind === "binary") yPred[r] = Math.min(1, Math.max(0, 0.5 * label + 0.6 * rng.next() - 0.05));
      else {
        const raw = [0, 1, 2].map((c) => Math.exp((c === label ? 1.2 : 0) + rng.next() * 1.5));
        const total = raw.reduce((a, b) => a + b, 0);
        raw.forEach((v, c) => {
          yPred[r * width + c] = v / total;
        });
      }
    }
    return { yTrue, yPred };
  });
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pooledAndConcatenated(kind: TaskKind, names: string[], seed: number, minCount = 1) {
  const parts = nodes(kind, seed);
  const counts = parts.map((p) => {
    const c = countMetrics(p.yTrue, p.yPred, kind);
    return { ...c, scores: c.scores?.map((s) => mergeScoreRuns(s, minCount)) };
  });
  const pooled = metricsFromCounts(names, poolCounts(counts)!, kind);
  const exact = computeMetrics(names, concat(parts.map((p) => p.yTrue)), concat(parts.map((p) => p.yPred)), kind);
  return { pooled, exact };
}

const countNames = classificationMetrics.filter((m) => m !== "auc");

describe("pooled metric counts equal the metrics of the concatenated predictions", () => {
  for (const kind of ["binary", "multiclass"] as const) {
    it(`${kind}: accuracy, precision, recall and f1 (binary/macro/micro) are exact`, () => {
      for (const seed of [1, 2, 3]) {
        const { pooled, exact } = pooledAndConcatenated(kind, [...countNames], seed);
        for (const name of countNames) {
          assert.ok(
            Math.abs(pooled.values[name] - exact[name]) < 1e-12,
            `${kind} ${name}: ${pooled.values[name]} ≠ ${exact[name]}`,
          );
        }
      }
    });

    for (const minCount of [1, 10]) {
      it(`${kind}: auc is within its stated bound (min_count ${minCount})`, () => {
        for (const seed of [1, 2, 3, 4, 5]) {
          const { pooled, exact } = pooledAndConcatenated(kind, ["auc"], seed, minCount);
          assert.ok(pooled.aucError !== undefined && pooled.aucError < 0.5);
          const off = Math.abs(pooled.values.auc - exact.auc);
          assert.ok(
            off <= pooled.aucError + 1e-12,
            `auc ${pooled.values.auc} vs ${exact.auc}: ${off} > ${pooled.aucError}`,
          );
        }
      });
    }
  }

  it("binary auc with distinct fine bins is exact and its bound is 0", () => {
    const { pooled, exact } = pooledAndConcatenated("binary", ["auc"], 7);
    // 137 scores over 65,536 bins: any shared bin would show in the bound, which is then still honest.
    assert.ok(Math.abs(pooled.values.auc - exact.auc) <= (pooled.aucError ?? 0) + 1e-12);
    if (pooled.aucError === 0) assert.ok(Math.abs(pooled.values.auc - exact.auc) < 1e-12);
  });

  it("regression: mse, mae and r2 from pooled sums", () => {
    const { pooled, exact } = pooledAndConcatenated("regression", [...regressionMetrics], 3);
    for (const name of regressionMetrics) {
      assert.ok(Math.abs(pooled.values[name] - exact[name]) < 1e-9, `${name}: ${pooled.values[name]} ≠ ${exact[name]}`);
    }
  });

  it("regression: a constant target gives r2 1 for a perfect fit, 0 otherwise, as unpooled", () => {
    const a = countMetrics(Float32Array.from([2, 2]), Float32Array.from([2, 2]), "regression");
    const b = countMetrics(Float32Array.from([2]), Float32Array.from([2]), "regression");
    assert.equal(metricsFromCounts(["r2"], poolCounts([a, b])!, "regression").values.r2, 1);
    const c = countMetrics(Float32Array.from([2]), Float32Array.from([3]), "regression");
    assert.equal(metricsFromCounts(["r2"], poolCounts([a, c])!, "regression").values.r2, 0);
  });

  it("a weighted mean of per-node F1 is not the pooled F1 (why counts travel)", () => {
    const parts = nodes("binary", 1);
    const perNode = parts.map((p) => ({
      f1: computeMetrics(["f1"], p.yTrue, p.yPred, "binary").f1,
      n: p.yTrue.length,
    }));
    const weighted = perNode.reduce((s, p) => s + p.f1 * p.n, 0) / perNode.reduce((s, p) => s + p.n, 0);
    const { pooled, exact } = pooledAndConcatenated("binary", ["f1"], 1);
    assert.ok(Math.abs(pooled.values.f1 - exact.f1) < 1e-12);
    assert.ok(Math.abs(weighted - exact.f1) > 1e-3, `weighted ${weighted} happens to equal ${exact.f1}`);
  });
});

describe("binnedAuc", () => {
  it("states a bound of ½ of the tied pairs when positives and negatives share one fine bin", () => {
    // Two positives and two negatives in one bin: estimate ½, bound ½ (truth could be 0 or 1).
    const runs = { positive: 1, lo: [100], hi: [101], positives: [2], negatives: [2] };
    assert.deepEqual(binnedAuc(runs), { auc: 0.5, bound: 0.5 });
  });

  it("reaches its bound: overlapping runs whose true order is the worst case", () => {
    // Exact scores: negatives at 0.30, positives at 0.31 (AUC 1); merged into one run of min_count 4.
    const yTrue = Float32Array.from([0, 0, 1, 1]);
    const counts = countMetrics(yTrue, Float32Array.from([0.3, 0.3, 0.31, 0.31]), "binary");
    const merged = mergeScoreRuns(counts.scores![0], 4);
    assert.equal(merged.lo.length, 1);
    const { auc, bound } = binnedAuc(merged);
    assert.ok(Math.abs(1 - auc) <= bound && bound === 1);
  });

  it("merged runs hold at least min_count rows each, tile [0, bins) and keep every row", () => {
    const rng = createRng(5);
    const n = 53;
    const yTrue = Float32Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    const yPred = Float32Array.from({ length: n }, () => rng.next());
    const runs = countMetrics(yTrue, yPred, "binary").scores![0];
    const merged = mergeScoreRuns(runs, 10);
    const sizes = merged.positives.map((p, i) => p + merged.negatives[i]);
    assert.ok(sizes.every((s) => s >= 10));
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      n,
    );
    assert.equal(merged.lo[0], 0);
    assert.equal(merged.hi[merged.hi.length - 1], SCORE_BINS);
    for (let i = 1; i < merged.lo.length; i++) assert.equal(merged.lo[i], merged.hi[i - 1]);
  });
});

describe("pooledAuc: exact within nodes, estimated across them", () => {
  /** Three nodes of 37–38 test rows, ~37% positive, scores a logistic of the label plus noise. */
  function smallTestSets(seed: number, separation: number) {
    const rng = createRng(seed);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    return [38, 38, 37].map((rows) => {
      const yTrue = new Float32Array(rows);
      const yPred = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        yTrue[r] = rng.next() < 0.37 ? 1 : 0;
        yPred[r] = 1 / (1 + Math.exp(-(yTrue[r] ? 2 : -2) * separation - 1.5 * gauss()));
      }
      return { yTrue, yPred };
    });
  }

  it("three nodes, small test sets, min_count 10: within 0.01 of the concatenated auc, bound narrower", () => {
    for (const separation of [1.5, 0.7]) {
      for (const seed of [1, 2, 3, 4]) {
        const parts = smallTestSets(seed, separation);
        const counts = parts.map((p) => {
          const c = countMetrics(p.yTrue, p.yPred, "binary");
          return { ...c, scores: c.scores?.map((s) => mergeScoreRuns(s, 10)) };
        });
        const pooled = poolCounts(counts)!;
        const got = metricsFromCounts(["auc"], pooled, "binary");
        const exact = computeMetrics(
          ["auc"],
          concat(parts.map((p) => p.yTrue)),
          concat(parts.map((p) => p.yPred)),
          "binary",
        );
        const off = Math.abs(got.values.auc - exact.auc);
        assert.ok(off < 0.01, `seed ${seed}: pooled ${got.values.auc} vs concatenated ${exact.auc}`);
        assert.ok(off <= (got.aucError ?? 0) + 1e-12, "the truth lies within the stated bound");
        // The runs alone (what an older node sends) give a wider bound around a worse estimate.
        const runsOnly = binnedAuc(pooled.scores![0]);
        assert.ok(got.aucError! < runsOnly.bound, `bound ${got.aucError} not below ${runsOnly.bound}`);
        assert.ok(Math.abs(runsOnly.auc - exact.auc) > off);
      }
    }
  });

  it("one node's auc is exact from its wins, however coarse its runs", () => {
    const [part] = smallTestSets(9, 0.7);
    const c = countMetrics(part.yTrue, part.yPred, "binary");
    const merged = { ...c, scores: c.scores?.map((s) => mergeScoreRuns(s, 10)) };
    const got = metricsFromCounts(["auc"], merged, "binary");
    const exact = computeMetrics(["auc"], part.yTrue, part.yPred, "binary").auc;
    assert.ok(Math.abs(got.values.auc - exact) < 1e-12);
    assert.equal(got.aucError, 0);
  });

  it("runs from an older node (no wins) are pooled as before, from the runs alone", () => {
    const parts = smallTestSets(2, 1.5).map((p) => {
      const runs = mergeScoreRuns(countMetrics(p.yTrue, p.yPred, "binary").scores![0], 10);
      return { ...runs, wins: undefined };
    });
    const whole = poolCounts(parts.map((s) => ({ rows: 0, confusion: [], scores: [s] })))!.scores![0];
    assert.deepEqual(pooledAuc(parts, whole), binnedAuc(whole));
  });

  it("refuses wins that are not a count of pairs", () => {
    const c = countMetrics(Float32Array.from([0, 1, 1]), Float32Array.from([0.2, 0.7, 0.1]), "binary");
    assert.equal(c.scores![0].wins, 1);
    assert.equal(countsProblem(c, 3), undefined);
    for (const wins of [2.5, 0.3, -1]) {
      const bad = { ...c, scores: [{ ...c.scores![0], wins }] };
      assert.match(countsProblem(bad, 3) ?? "", /not a count of pairs/);
    }
  });
});
