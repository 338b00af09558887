import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadPreparedTable } from "../../../src/ml/data/table.js";
import { summarizeCategories } from "../../../src/node/analytics/category-stats.js";
import { summarizeColumns } from "../../../src/node/analytics/summarize.js";
import { valueSource } from "../../../src/node/analytics/value-source.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { describeDataset } from "../../../src/node/catalogue/dataset-draft.js";
import { createDatasetLoader } from "../../../src/node/catalogue/dataset-loader.js";
import { ownCategories } from "../../../src/node/catalogue/own-categories.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-category-stats-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * 32 rows: smoking is 15 never, 15 current, 2 pipe (rare at this node); flag has `ones` rows of 1;
 * y alternates 0 and 1 (16 each); age is a number.
 */
async function table(name: string, ones: number): Promise<DatasetEntry> {
  const path = join(dir, `${name}.csv`);
  const smoking = (i: number) => (i < 2 ? "pipe" : i % 2 ? "never" : "current");
  const rows = Array.from({ length: 32 }, (_, i) => `${40 + i},${smoking(i)},${i < ones ? 1 : 0},${i % 2}`);
  writeFileSync(path, `age,smoking,flag,y\n${rows.join("\n")}\n`);
  const draft = await describeDataset({ type: "csv", path, tags: ["t"], target: "y" });
  return { ...draft, id: `ds_${name}`, name, createdAt: "", labelsPath: "", missingTarget: 0 } as DatasetEntry;
}

describe("statistics of 0/1 and text columns, through the disclosure gate", () => {
  it("a 0/1 column: counts of 0 and 1 and its moments when both reach min_count, no histogram range", async () => {
    const entry = await table("common", 12);
    const source = valueSource(entry, createDatasetLoader());
    const [age, flag, y] = await summarizeColumns(source, [0, 1, 2], { minCount: 10, minMax: true });
    assert.deepEqual(
      [
        flag.name,
        flag.count,
        flag.classes,
        flag.sum,
        Number(flag.mean.toFixed(12)),
        flag.min,
        flag.max,
        flag.histogramGrid,
      ],
      [
        "flag",
        32,
        [
          { name: "0", count: 20 },
          { name: "1", count: 12 },
        ],
        12,
        0.375,
        0,
        1,
        0,
      ],
    );
    assert.deepEqual(y.classes, [
      { name: "0", count: 16 },
      { name: "1", count: 16 },
    ]);
    // A numeric column is as before: a histogram range and no counts.
    assert.ok(age.histogramGrid > 0 && age.classes.length === 0 && age.rangeHi > age.rangeLo);
  });

  it("a rare 1 is never told: both counts hidden (the other is the count minus it) and the moments not sent", async () => {
    const entry = await table("rare", 3);
    const source = valueSource(entry, createDatasetLoader());
    const [flag] = await summarizeColumns(source, [1], { minCount: 10, minMax: true });
    assert.deepEqual(flag.classes, [
      { name: "0", count: "hidden" },
      { name: "1", count: "hidden" },
    ]);
    assert.equal(flag.count, 32, "the count of values itself is published");
    for (const figure of [flag.sum, flag.mean, flag.m2]) assert.ok(Number.isNaN(figure), "a sum of 0/1 is a count");
    // The node's operator, with min_count 1, sees them all.
    const [own] = await summarizeColumns(source, [1], { minCount: 1, minMax: true });
    assert.deepEqual([own.classes.map((c) => c.count), own.sum], [[29, 3], 3]);
  });

  it("a text column: category counts as the node's own profile publishes them, a rare category never named", async () => {
    const entry = await table("text", 0);
    const [smoking] = summarizeCategories(entry, ["smoking"], { minCount: 10, minMax: false });
    // pipe (2 rows) is never named; the rest below min_count withholds the smallest category too:
    // current, first by name of the two of 15, the one ownCategories maps to "other" when training.
    assert.deepEqual(smoking.classes, [{ name: "never", count: 15 }]);
    assert.equal(smoking.count, 32);
    assert.equal(smoking.histogramGrid, 0);
    for (const figure of [smoking.sum, smoking.mean, smoking.min, smoking.max]) assert.ok(Number.isNaN(figure));
    const loaded = await loadPreparedTable(
      entry.path,
      { columns: [{ name: "smoking", kind: "onehot", categories: ["current", "never", "pipe"] }] },
      { target: "y" },
    );
    const { mapped } = ownCategories(
      loaded,
      { columns: [{ name: "smoking", kind: "onehot", categories: ["current", "never", "pipe"] }] },
      10,
    );
    assert.deepEqual(mapped, ["smoking=current", "smoking=pipe"], "the same categories are withheld in training");
    // With min_count 2, every category is named.
    const [all] = summarizeCategories(entry, ["smoking"], { minCount: 2, minMax: false });
    assert.deepEqual(
      all.classes.map((c) => [c.name, c.count]),
      [
        ["current", 15],
        ["never", 15],
        ["pipe", 2],
      ],
    );
  });
});
