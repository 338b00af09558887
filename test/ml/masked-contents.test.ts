import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ContentsLayout, contentsLength, decodeContents, encodeContents } from "../../src/ml/masked-contents.js";

/** Adds vectors word by word modulo 2^32, as the masked sum does. */
function sum(vectors: Int32Array[]): Int32Array {
  const out = new Uint32Array(vectors[0].length);
  for (const v of vectors) for (let i = 0; i < out.length; i++) out[i] += v[i];
  return new Int32Array(out.buffer);
}

describe("masked contents", () => {
  it("regression sums, negative and beyond 32 bits, add up exactly to 2^-16 over many nodes", () => {
    const layout: ContentsLayout = { kind: "regression", classes: 2, sets: ["local"] };
    const nodes = Array.from({ length: 200 }, (_, i) => ({
      loss: 3.5 + i,
      weight: 1000 + i,
      sums: { y: -12345.678 * (i + 1), y2: 1.5e9 + i, sse: 0.001 * i, sae: 7.25 },
    }));
    const vectors = nodes.map((n) =>
      encodeContents(layout, { loss: n.loss, weight: n.weight }, [
        { rows: 100, lossSum: -n.loss * 100, counts: { rows: 100, sums: n.sums } },
      ]),
    );
    assert.equal(vectors[0].length, contentsLength(layout));
    const decoded = decodeContents(layout, sum(vectors));
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 200 * 2 ** -16, `${a} vs ${b}`);
    close(
      decoded.trainLossSum,
      nodes.reduce((s, n) => s + n.loss * n.weight, 0),
    );
    const [local] = decoded.sets;
    assert.equal(local.rows, 20_000);
    close(
      local.lossSum,
      nodes.reduce((s, n) => s - n.loss * 100, 0),
    );
    for (const key of ["y", "y2", "sse", "sae"] as const) {
      close(
        local.counts.sums?.[key] ?? Number.NaN,
        nodes.reduce((s, n) => s + n.sums[key], 0),
      );
    }
  });

  it("confusion counts add up; a node without test rows adds zeros", () => {
    const layout: ContentsLayout = { kind: "multiclass", classes: 3, sets: ["global", "local"] };
    const one = encodeContents(layout, { loss: 1, weight: 1 }, [
      { rows: 3, lossSum: 0, counts: { rows: 3, classes: 3, confusion: [1, 0, 0, 0, 1, 0, 0, 0, 1] } },
      undefined,
    ]);
    const two = encodeContents(layout, { loss: 2, weight: 1 }, [
      { rows: 2, lossSum: 0, counts: { rows: 2, classes: 3, confusion: [0, 1, 0, 0, 0, 0, 0, 0, 1] } },
      undefined,
    ]);
    const { sets } = decodeContents(layout, sum([one, two]));
    assert.deepEqual(sets[0].counts.confusion, [1, 1, 0, 0, 1, 0, 0, 0, 2]);
    assert.equal(sets[1].rows, 0);
  });

  it("refuses what it cannot hold: a confusion matrix of another size, a value that is not finite", () => {
    const layout: ContentsLayout = { kind: "binary", classes: 2, sets: ["global"] };
    assert.throws(
      () =>
        encodeContents(layout, { loss: 0, weight: 1 }, [
          { rows: 1, lossSum: 0, counts: { rows: 1, classes: 3, confusion: new Array(9).fill(0) } },
        ]),
      /confusion matrix has 9 cells, not 4/,
    );
    assert.throws(() => encodeContents(layout, { loss: Number.NaN, weight: 1 }, [undefined]), /training loss/);
  });
});
