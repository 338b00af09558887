import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/ml/rng.js";
import { fineIndex } from "../../../src/ml/stats/histogram-grid.js";
import { addValue, emptyMoments } from "../../../src/ml/stats/moments.js";
import { histogram } from "../../../src/node/analytics/histograms.js";
import { addToCell, emptyCells, gridCell, gridStep } from "../../../src/node/analytics/node-grid.js";
import { summary } from "../../../src/node/analytics/summarize.js";
import { agreeGrid } from "../../../src/researcher/stats/agree-grid.js";
import { binaryQuantiles, nodeColumn, pooledColumn } from "../../../src/researcher/stats/column-report.js";
import type { NodeAnswer } from "../../../src/researcher/stats/stats-result.js";
import type { DatasetInfo } from "../../../src/wire/index.js";

/** The node side (pure functions) and the researcher side of both phases, without a server. */
function federate(
  parts: number[][],
  options: { minCount: number; minMax: boolean[]; bins: number; quantiles: number[] },
) {
  const policy = (i: number) => ({ minCount: options.minCount, minMax: options.minMax[i % options.minMax.length] });
  const answers: NodeAnswer[] = parts.map((values, i) => {
    const m = emptyMoments();
    for (const v of values) addValue(m, v);
    return {
      node: `node_${i}`,
      name: `site-${i}`,
      dataset: { id: `ds_${i}`, name: `d${i}`, sampleCount: values.length } as DatasetInfo,
      minCount: options.minCount,
      tooSmall: false,
      summaries: [summary("x", m, 0, undefined, policy(i))],
      histograms: [],
    };
  });
  const grid = agreeGrid(
    answers.map((a) => a.summaries[0]),
    options.bins,
  )!;
  parts.forEach((values, i) => {
    // As histogramColumns counts: on the node's own grid, its cell table published once.
    const cells = emptyCells(Math.min(...values), Math.max(...values));
    for (const v of values) addToCell(cells, v);
    answers[i].histograms = [histogram("x", cells, grid, options.minCount)];
  });
  return {
    grid,
    pooled: pooledColumn(answers, "x", grid, options.quantiles)!,
    perNode: answers.map((a) => nodeColumn(a, "x", grid, options.quantiles)!),
  };
}

/** pandas' default quantile: linear interpolation between order statistics. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const r = Math.floor(h);
  return r + 1 < sorted.length ? sorted[r] + (h - r) * (sorted[r + 1] - sorted[r]) : sorted[r];
}

function variance(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
}

/** [lo, hi] of a printed count: 12, "<10", ">=10", "12-30". */
function bounds(count: number | string): [number, number] {
  if (typeof count === "number") return [count, count];
  if (count === "hidden") return [0, Infinity];
  if (count.startsWith("<")) return [0, Number(count.slice(1)) - 1];
  if (count.startsWith(">=")) return [Number(count.slice(2)), Infinity];
  const [lo, hi] = count.split("-").map(Number);
  return [lo, hi];
}

const relative = (got: number, want: number) => Math.abs(got - want) / Math.max(1e-300, Math.abs(want));

const rng = createRng(11);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
const datasets: [string, number[][]][] = [
  [
    "normal sites with different centres",
    [300, 120, 45].map((n, i) => Array.from({ length: n }, () => Number((50 + 8 * i + 10 * gauss()).toFixed(4)))),
  ],
  [
    "skewed (exponential) values",
    [200, 200].map(() => Array.from({ length: 200 }, () => Number((-Math.log(1 - rng.next()) * 3).toFixed(3)))),
  ],
  ["integers with many ties", [80, 500, 33].map((n) => Array.from({ length: n }, () => Math.floor(rng.next() * 6)))],
  ["one large site", [[...Array.from({ length: 5000 }, () => 1e6 + 1e3 * gauss())]]],
];

describe("pooled statistics equal those of the concatenated data", () => {
  for (const [what, parts] of datasets) {
    for (const minCount of [1, 10, 40]) {
      for (const minMax of [[true], [false], [true, false]]) {
        it(`${what}, min_count ${minCount}, stats_minmax ${minMax.join("/")}`, () => {
          const quantiles = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1];
          // A site smaller than min_count answers only that (executors/analytics.ts): it takes no part.
          const sites = parts.filter((values) => values.length >= minCount);
          const { grid, pooled, perNode } = federate(sites, { minCount, minMax, bins: 10, quantiles });
          const all = sites.flat();
          const sorted = [...all].sort((a, b) => a - b);
          assert.equal(pooled.count, all.length);
          assert.equal(pooled.nodes, sites.length);
          assert.ok(
            relative(
              pooled.sum!,
              all.reduce((a, b) => a + b, 0),
            ) < 1e-9,
            "sum",
          );
          assert.ok(relative(pooled.mean!, all.reduce((a, b) => a + b, 0) / all.length) < 1e-9, "mean");
          assert.ok(relative(pooled.var!, variance(all)) < 1e-9, `var ${pooled.var} vs ${variance(all)}`);
          assert.ok(relative(pooled.std!, Math.sqrt(variance(all))) < 1e-9, "std");
          if (sites.every((_, i) => minMax[i % minMax.length])) {
            assert.deepEqual([pooled.min, pooled.max, pooled.minmax_grid], [sorted[0], sorted.at(-1), undefined]);
          } else {
            const g = pooled.minmax_grid!;
            assert.ok(pooled.min! <= sorted[0] && sorted[0] < pooled.min! + g, "min within one grid step");
            assert.ok(pooled.max! > sorted.at(-1)! && sorted.at(-1)! >= pooled.max! - g, "max within one grid step");
          }
          // Quantiles within the stated bound (plus float rounding of the edges).
          const slack = 1e-9 * (grid.hi - grid.lo);
          for (const q of quantiles) {
            const want = quantile(sorted, q);
            const got = pooled.quantiles![String(q)];
            assert.ok(
              Math.abs(got - want) <= pooled.quantile_error! + slack,
              `q${q}: ${got} vs ${want} ± ${pooled.quantile_error}`,
            );
          }
          sites.forEach((values, i) => {
            const s = [...values].sort((a, b) => a - b);
            for (const q of quantiles) {
              assert.ok(
                Math.abs(perNode[i].quantiles![String(q)] - quantile(s, q)) <= perNode[i].quantile_error! + slack,
                `node ${i} q${q}`,
              );
            }
          });
          // Every pooled bin holds its true count within the bounds it states: the count of values at
          // their node's grid cell middle (what histograms count, node-grid.ts).
          const truth = new Array(grid.bins).fill(0);
          for (const values of sites) {
            const step = gridStep(Math.min(...values), Math.max(...values));
            for (const v of values) {
              const at = Math.min(grid.hi, Math.max(grid.lo, gridCell(v, step).mid));
              truth[Math.floor(fineIndex(grid, at) / grid.fine)]++;
            }
          }
          pooled.histogram!.counts.forEach((count, j) => {
            const [lo, hi] = bounds(count);
            assert.ok(lo <= truth[j] && truth[j] <= hi, `bin ${j}: ${truth[j]} not in ${count}`);
          });
          assert.deepEqual(pooled.histogram!.edges.length, grid.bins + 1);
        });
      }
    }
  }

  it("states a quantile error of at most one node grid cell for a large pooled dataset with min_count 10", () => {
    const parts = [0, 1, 2].map(() => Array.from({ length: 4000 }, () => 100 + 15 * gauss()));
    const { pooled } = federate(parts, { minCount: 10, minMax: [false], bins: 20, quantiles: [0.5] });
    // Values span about 40–160: the nodes count on 10-wide cells (at most 20 cells). The bracket between
    // cell middles is half a cell, and each value lies within half a cell of its middle: ± 10 at most.
    assert.ok(pooled.quantile_error! >= 5 && pooled.quantile_error! <= 10, `error ${pooled.quantile_error} (std 15)`);
    const median = quantile(
      parts.flat().sort((a, b) => a - b),
      0.5,
    );
    assert.ok(Math.abs(pooled.quantiles!["0.5"] - median) <= pooled.quantile_error!);
  });
});

describe("binaryQuantiles()", () => {
  it("gives pandas' quantiles of 0/1 values from exact counts", () => {
    // 7 zeros and 3 ones: sorted, the 0.5 quantile is 0, the 0.75 one 0.75 (between index 6 and 7: 0 and 1).
    const values = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1];
    const q = binaryQuantiles(
      new Map([
        ["0", [7, 7]],
        ["1", [3, 3]],
      ]),
      10,
      [0.25, 0.5, 0.75, 0.9],
    );
    assert.deepEqual(q, {
      0.25: quantile(values, 0.25),
      0.5: quantile(values, 0.5),
      0.75: quantile(values, 0.75),
      0.9: quantile(values, 0.9),
    });
  });

  it("keeps only the quantiles the bounds of hidden counts cannot move, and none of a column that is not 0/1", () => {
    const counts = new Map<string, [number, number]>([
      ["0", [40, 90]],
      ["1", [10, 60]],
    ]);
    // 100 values with 40 to 90 zeros: q0.25 is 0 and q0.95 is 1 whatever they are; the median is not pinned.
    assert.deepEqual(binaryQuantiles(counts, 100, [0.25, 0.5, 0.95]), { 0.25: 0, 0.95: 1 });
    assert.equal(binaryQuantiles(new Map([...counts, ["2", [0, 0]]]), 100, [0.5]), undefined);
    assert.equal(
      binaryQuantiles(
        new Map([
          ["0", [0, 100]],
          ["1", [0, 100]],
        ]),
        100,
        [0.5],
      ),
      undefined,
    );
  });
});
