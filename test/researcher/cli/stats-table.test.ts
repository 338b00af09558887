import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatStatsTable } from "../../../src/researcher/cli/stats-table.js";
import type { StatsResult } from "../../../src/researcher/stats/stats-result.js";

describe("formatStatsTable()", () => {
  it("prints the pooled table, then each node, marking rounded min/max and hidden counts", () => {
    const age = {
      count: 300,
      missing: 0,
      sum: 16500,
      mean: 55,
      var: 100.25,
      std: 10.0125,
      min: 10,
      max: 100,
      minmax_grid: 10,
      quantiles: { "0.5": 54.98 },
      quantile_error: 0.21,
      histogram: { edges: [10, 55, 100], counts: ["<10", 291] },
    };
    const result: StatsResult = {
      event: "stats",
      nodes: [
        { node: "node_a", name: "alpha", dataset: "heart", dataset_id: "ds_1", min_count: 10, columns: { age } },
        { node: "node_b", name: "beta", dataset: "tiny", dataset_id: "ds_2", min_count: 10, size: "<10", columns: {} },
      ],
      pooled: { age: { ...age, nodes: 1 } },
    };
    const text = formatStatsTable(result);
    assert.match(
      text,
      /^Pooled over 1 node\(s\) \(alpha\):\n {2}column {2}count {2}missing {2}mean {2}std +min {2}max +q0\.5 +±q\n {2}age +300 +0 +55 +10\.01\d +10~ +100~ +54\.98 +0\.21\n/,
    );
    assert.match(text, /age histogram \[10, 100\]: <10 291/);
    assert.match(
      text,
      /beta \(node_b\), dataset "tiny", min_count 10:\n {2}fewer rows than the node's min_count \(<10\): no figures/,
    );
    assert.match(text, /~ min\/max rounded outward/);
  });

  it("prints counts instead of quantiles for 0/1 and text columns", () => {
    const columns = {
      age: {
        count: 40,
        missing: 0,
        mean: 50,
        std: 5,
        min: 30,
        max: 70,
        quantiles: { "0.5": 49.5 },
        quantile_error: 0.1,
      },
      smoker: { count: 40, missing: "<10", mean: 0.25, std: 0.4385, min: 0, max: 1, classes: { 0: 30, 1: 10 } },
      sex: { count: 40, missing: "<10", classes: { F: 22, M: "hidden" } },
    };
    const text = formatStatsTable({
      event: "stats",
      nodes: [{ node: "node_a", name: "alpha", dataset: "heart", dataset_id: "ds_1", min_count: 10, columns }],
      pooled: { ...columns, sex: { ...columns.sex, classes: { F: 22, M: "<19" } } },
    });
    // No quantile for them (their row shows "-"), and a line of counts each.
    assert.match(text, /\n {2}smoker +40 +<10 +0\.25 +0\.4385 +0 +1 +- +-\n/);
    assert.match(text, /\n {2}sex +40 +<10 +- +- +- +- +- +-\n/);
    assert.match(text, /\n {2}smoker counts: 0 30, 1 10\n/);
    assert.match(text, /Pooled over 1 node\(s\) \(alpha\):\n[\s\S]*\n {2}sex counts: F 22, M <19\n/);
    assert.match(text, /alpha \(node_a\)[\s\S]*\n {2}sex counts: F 22, M hidden\n/);
  });
});
