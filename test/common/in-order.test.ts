import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allInOrder } from "../../src/common/in-order.js";

describe("allInOrder", () => {
  it("returns the values in order", async () => {
    assert.deepEqual(await allInOrder([Promise.resolve(1), Promise.resolve("two")]), [1, "two"]);
  });

  it("throws the first rejection in array order, not in time", async () => {
    const late = new Promise((_, reject) => setImmediate(() => reject(new Error("first in order"))));
    const early = Promise.reject(new Error("first in time"));
    await assert.rejects(allInOrder([late, early]), /first in order/);
  });
});
