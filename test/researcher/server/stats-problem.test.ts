import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ColumnStats } from "../../../src/ml/types.js";
import { statsProblem } from "../../../src/researcher/server/reply-check.js";

// Ages 30, 40, 50 on a node that announced 3 rows.
const age: ColumnStats = { name: "age", count: 3, sum: 120, sumSquares: 5000, min: 30, max: 50 };

describe("statsProblem(): a node's column statistics checked against the rows it announced", () => {
  it("passes true statistics, an empty column, and a withheld one (count 0, min = max = 0)", () => {
    assert.equal(statsProblem([age], 3), undefined);
    assert.equal(
      statsProblem([{ ...age, count: 0, sum: 0, sumSquares: 0, min: Infinity, max: -Infinity }], 3),
      undefined,
    );
    assert.equal(statsProblem([{ ...age, count: 0, sum: 0, sumSquares: 0, min: 0, max: 0 }], 3), undefined);
    assert.equal(statsProblem([{ ...age, missing: 0, categories: [{ name: "a", count: 3 }] }], 3), undefined);
    // A node rounds its missing count up to a multiple of min_count: present + missing may pass the rows.
    assert.equal(statsProblem([{ ...age, missing: 3 }], 3), undefined);
  });

  it("refuses poisoned moments a lying node could steer everyone's scaling with", () => {
    const cases: [Partial<ColumnStats>, RegExp][] = [
      [{ count: 4e9 }, /counts 4000000000 value\(s\) and 0 missing, for a dataset announced with 3 rows/],
      [{ count: 2.5 }, /counts 2.5/],
      [{ count: -1 }, /counts -1/],
      [{ missing: 4 }, /and 4 missing/],
      [{ sumSquares: 1e308 * 10 }, /sum of squares Infinity/],
      [{ sum: Number.NaN }, /sum NaN/],
      [{ sumSquares: -1 }, /sum of squares -1/],
      [{ sumSquares: 100 }, /negative variance/],
      [{ min: 60, max: 50 }, /min 60, max 50/],
      [{ min: 45 }, /mean 40/],
      [{ categories: [{ name: "a", count: 7 }] }, /counts 7 rows in one category/],
    ];
    for (const [change, message] of cases) assert.match(statsProblem([{ ...age, ...change }], 3) ?? "", message);
  });
});
