import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkColumns } from "../../../src/researcher/stats/run-stats.js";
import { checkStatsOptions } from "../../../src/researcher/stats/stats-options.js";
import type { DatasetInfo } from "../../../src/wire/index.js";

describe("stats options", () => {
  it("fills in the defaults", () => {
    const o = checkStatsOptions({ tags: ["heart"] });
    assert.deepEqual(
      [o.quantiles, o.bins, o.waitSeconds, o.listen, o.columns],
      [[0.25, 0.5, 0.75], 10, 10, "127.0.0.1:50051", undefined],
    );
  });

  it("refuses what cannot be computed, naming the flag", () => {
    assert.throws(() => checkStatsOptions({ tags: [" "] }), /Statistics need --tags/);
    assert.throws(
      () => checkStatsOptions({ tags: ["t"], quantiles: [1.5] }),
      /Invalid quantile "1.5": give numbers from 0 to 1/,
    );
    assert.throws(() => checkStatsOptions({ tags: ["t"], bins: 0 }), /Invalid --bins "0"/);
    assert.throws(() => checkStatsOptions({ tags: ["t"], waitSeconds: 0 }), /Invalid --wait "0"/);
    assert.throws(() => checkStatsOptions({ tags: ["t"], nodes: 1.5 }), /Invalid --nodes "1.5"/);
  });

  it("names a column a node's dataset lacks, and the columns it has", () => {
    const dataset = {
      name: "heart",
      type: "csv",
      columns: ["age", "ldl", "label"].map((name) => ({ name, dtype: "float64" })),
    } as DatasetInfo;
    const images = { name: "scans", type: "images", columns: [] as DatasetInfo["columns"] } as DatasetInfo;
    checkColumns([{ name: "alpha", dataset }], ["age", "label"]);
    assert.throws(() => checkColumns([{ name: "alpha", dataset }], ["agee"]), {
      message:
        'Cannot compute statistics: column "agee" is not in dataset "heart" on node alpha; columns: age, ldl, label',
    });
    assert.throws(
      () => checkColumns([{ name: "beta", dataset: images }], ["age"]),
      /not in dataset "scans" on node beta; columns: pixels$/,
    );
  });
});
