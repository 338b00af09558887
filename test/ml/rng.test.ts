import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng, deriveSeed } from "../../src/ml/rng.js";

describe("createRng", () => {
  it("gives the same sequence for the same seed and a different one for another seed", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const seqA = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      seqA,
      Array.from({ length: 5 }, () => b.next()),
    );
    assert.notDeepEqual(
      seqA,
      Array.from({ length: 5 }, () => c.next()),
    );
  });

  it("next() stays in [0, 1) and int(n) in [0, n) covering every value", () => {
    const rng = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = rng.next();
      assert.ok(v >= 0 && v < 1);
      const k = rng.int(7);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
      seen.add(k);
    }
    assert.equal(seen.size, 7);
  });

  it("shuffle() permutes in place and is reproducible", () => {
    const a = createRng(9).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = createRng(9).shuffle(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.notDeepEqual(a, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([...b], a);
  });

  it("continues the same sequence from a saved state", () => {
    const rng = createRng(5);
    rng.next();
    rng.next();
    const saved = rng.state();
    const expected = [rng.next(), rng.next(), rng.int(100)];
    const resumed = createRng(0, { state: saved });
    assert.deepEqual([resumed.next(), resumed.next(), resumed.int(100)], expected);
    assert.equal(typeof saved, "number");
    assert.deepEqual(JSON.parse(JSON.stringify({ saved })).saved, saved);
  });
});

describe("deriveSeed", () => {
  it("is deterministic, non-negative 31-bit, and differs by label", () => {
    assert.equal(deriveSeed(1, 0, "kernel"), deriveSeed(1, 0, "kernel"));
    assert.notEqual(deriveSeed(1, 0, "kernel"), deriveSeed(1, 1, "kernel"));
    assert.notEqual(deriveSeed(1, 0, "kernel"), deriveSeed(2, 0, "kernel"));
    assert.notEqual(deriveSeed(1, "split"), deriveSeed(1, "batches"));
    for (const s of [deriveSeed(-3, "x"), deriveSeed(2 ** 40, "y")]) {
      assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 31);
    }
  });
});
