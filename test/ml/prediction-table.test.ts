import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { predictionTable, toCsv } from "../../src/ml/prediction-table.js";

describe("predictionTable()", () => {
  it("shows a binary model's one sigmoid output as both classes' probabilities, class 1 from p ≥ 0.5", () => {
    const table = predictionTable({ kind: "binary", values: Float32Array.of(0.25, 0.5, 0.875), rows: 3, outputs: 1 });
    assert.deepEqual(table.columns, ["id", "label", "p_0", "p_1"]);
    assert.deepEqual(table.rows, [
      [0, "0", 0.75, 0.25],
      [1, "1", 0.5, 0.5],
      [2, "1", 0.125, 0.875],
    ]);
  });

  it("names multiclass columns and labels after the classes, rows after the ids", () => {
    const table = predictionTable({
      kind: "multiclass",
      values: Float32Array.of(0.125, 0.75, 0.125, 0.5, 0.25, 0.25),
      rows: 2,
      outputs: 3,
      ids: ["x.png", "y.png"],
      classes: ["cat", "dog", "fox"],
    });
    assert.deepEqual(table.columns, ["id", "label", "p_cat", "p_dog", "p_fox"]);
    assert.deepEqual(table.rows, [
      ["x.png", "dog", 0.125, 0.75, 0.125],
      ["y.png", "cat", 0.5, 0.25, 0.25],
    ]);
  });

  it("gives regression values, one column per output", () => {
    assert.deepEqual(predictionTable({ kind: "regression", values: Float32Array.of(1.5, -2), rows: 1, outputs: 2 }), {
      columns: ["id", "value_0", "value_1"],
      rows: [[0, 1.5, -2]],
    });
  });
});

describe("toCsv()", () => {
  it("quotes fields holding commas, quotes or line breaks", () => {
    assert.equal(
      toCsv({
        columns: ["id", "value"],
        rows: [
          ['a,"b"', 1],
          ["plain", 2],
          ["two\nlines", 3],
        ],
      }),
      'id,value\n"a,""b""",1\nplain,2\n"two\nlines",3\n',
    );
  });
});
