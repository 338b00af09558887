import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadPreparedTable } from "../../../src/ml/data/table.js";
import type { TablePreparation } from "../../../src/ml/table-prep.js";
import { ownCategories } from "../../../src/node/catalogue/own-categories.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-own-categories-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// 32 rows: 15 never, 15 current, 2 pipe (rare at this node).
const smoking = (i: number) => (i < 2 ? "pipe" : i % 2 ? "never" : "current");
const path = join(dir, "t.csv");
writeFileSync(path, `smoking,y\n${Array.from({ length: 32 }, (_, i) => `${smoking(i)},${i % 2}`).join("\n")}\n`);
const preparation: TablePreparation = {
  columns: [{ name: "smoking", kind: "onehot", categories: ["current", "never", "pipe", "snuff"] }],
};

describe("ownCategories", () => {
  it("counts the rows of categories this node did not publish as other: their inputs are 0 here", async () => {
    const loaded = await loadPreparedTable(path, preparation, { target: "y" });
    assert.deepEqual(loaded.categoryRows, { smoking: { pipe: 2, current: 15, never: 15 } });
    const { data, mapped } = ownCategories(loaded, preparation, 10);
    // The 2 pipe rows are a rest below min_count: the smallest published category (current, first of the
    // two of 15) is withheld with them, as the node's own profile withholds it (discloseColumnStats).
    assert.deepEqual(mapped, ["smoking=current", "smoking=pipe", "smoking=snuff"]);
    const column = (k: number) => Array.from({ length: data.rows }, (_, r) => data.x[r * 5 + k]);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((k) => column(k).reduce((s, v) => s + v, 0)),
      [0, 15, 0, 0, 17],
    );
    assert.equal(
      Array.from(loaded.x).reduce((s, v) => s + v, 0),
      32,
      "the loader's copy is left as it was",
    );
  });

  it("leaves the data as it is when the node published every category named", async () => {
    const loaded = await loadPreparedTable(path, preparation, { target: "y" });
    const { data, mapped } = ownCategories(loaded, preparation, 2);
    assert.deepEqual(mapped, ["smoking=snuff"]);
    assert.notEqual(data, loaded);
    const all = ownCategories(loaded, { columns: [{ name: "smoking", kind: "onehot", categories: ["pipe"] }] }, 1);
    assert.deepEqual(all.mapped, []);
  });
});
