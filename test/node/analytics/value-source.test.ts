import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { summarizeColumns } from "../../../src/node/analytics/summarize.js";
import { valueSource } from "../../../src/node/analytics/value-source.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { createDatasetLoader } from "../../../src/node/catalogue/dataset-loader.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-values-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("valueSource() of a hospital table", () => {
  it("offers the numeric columns only, blank cells counted as missing", async () => {
    const path = join(dir, "t.csv");
    const rows = Array.from({ length: 30 }, (_, i) => `${i % 7 === 0 ? "" : 40 + i},${i % 2 ? "F" : "M"},${i % 2}`);
    writeFileSync(path, `age,sex,y\n${rows.join("\n")}\n`);
    const draft = await describeDataset({ type: "csv", path, tags: ["t"], target: "y" });
    const entry = { ...draft, id: "ds_1", name: "t", createdAt: "", labelsPath: "", missingTarget: 0 } as DatasetEntry;
    const source = valueSource(entry, createDatasetLoader());
    assert.deepEqual(source.columns, ["age", "y"]);
    const [age] = await summarizeColumns(source, [0], { minCount: 1, minMax: true });
    assert.deepEqual([age.count, age.missing], [25, 5]);
  });
});
