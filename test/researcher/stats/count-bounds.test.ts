import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addBounds, cellBounds, formatCount, formatPublished } from "../../../src/researcher/stats/count-bounds.js";

describe("count bounds", () => {
  it("bounds suppressed counts (below: 0 … min_count − 1, hidden: any), capped by what the published total leaves", () => {
    assert.deepEqual(cellBounds([40, "below", 12, "hidden"], 10), [
      [40, 40],
      [0, 9],
      [12, 12],
      [0, Infinity],
    ]);
    // Total 55: the two suppressed counts hold 55 − 40 − 12 = 3 values between them.
    assert.deepEqual(cellBounds([40, "below", 12, "hidden"], 10, 55), [
      [40, 40],
      [0, 3],
      [12, 12],
      [0, 3],
    ]);
  });

  it("prints exact counts as numbers and the others as the bounds they are", () => {
    assert.deepEqual(
      [
        [12, 12],
        [1, 9],
        [0, 9],
        [10, Infinity],
        [0, Infinity],
        [14, 31],
      ].map(([lo, hi]) => formatCount([lo, hi])),
      [12, "<10", "<10", ">=10", "hidden", "14-31"],
    );
    assert.deepEqual(addBounds([1, 9], [10, 14]), [11, 23]);
    assert.deepEqual(
      ["below", "hidden", 7].map((c) => formatPublished(c as "below", 25)),
      ["<25", "hidden", 7],
    );
  });
});
