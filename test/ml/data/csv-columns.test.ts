import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { inspectTable } from "../../../src/ml/data/csv-columns.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-columns-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("inspectTable()", () => {
  it("types numeric, binary and categorical columns, counting missing cells and categories", async () => {
    const text = [
      "age,sex,smoking,ldl,y",
      "50,F,never,3.1,1",
      "61,M,former,,0",
      ",F,current,2.5,1",
      "47,M,NA,4.0,",
      "55,F,never,N/A,0",
    ].join("\n");
    const info = await inspectTable(csv("hospital.csv", `${text}\n`), { target: "y" });
    assert.equal(info.rows, 5);
    assert.equal(info.missingTarget, 1);
    assert.deepEqual(info.columns, [
      { name: "age", dtype: "int64", kind: "numeric", missing: 1 },
      {
        name: "sex",
        dtype: "string",
        kind: "categorical",
        missing: 0,
        categories: [
          { name: "F", count: 3 },
          { name: "M", count: 2 },
        ],
      },
      {
        name: "smoking",
        dtype: "string",
        kind: "categorical",
        missing: 1,
        categories: [
          { name: "never", count: 2 },
          { name: "current", count: 1 },
          { name: "former", count: 1 },
        ],
      },
      { name: "ldl", dtype: "float64", kind: "numeric", missing: 2 },
      { name: "y", dtype: "int64", kind: "binary", missing: 1 },
    ]);
  });

  it("reads a text column with some numeric-looking values as categories, and many distinct texts as free text", async () => {
    const grades = await inspectTable(csv("grade.csv", "grade\n1\nhigh\nlow\nunknown\n"));
    assert.deepEqual(
      grades.columns[0].categories?.map((c) => c.name),
      ["1", "high", "low", "unknown"],
    );
    const ids = Array.from({ length: 1100 }, (_, i) => `P${i}`).join("\n");
    const free = await inspectTable(csv("ids.csv", `id\n${ids}\n`));
    assert.deepEqual(free.columns[0], { name: "id", dtype: "string", kind: "text", missing: 0 });
  });

  const bad: [string, string, string, RegExp][] = [
    [
      "a text value among numbers",
      "typo.csv",
      "a,age\n1,2\n3,abc\n4,5\n",
      /: column "age" has a non-numeric value "abc" on line 3 among numbers; fix it, or leave the cell empty if the value is missing$/,
    ],
    [
      "a text target",
      "target.csv",
      "x,diagnosis\n1,M\n2,B\n",
      /: the target column "diagnosis" has the text value "M" on line 2; a target must be numeric/,
    ],
    ["an unknown target", "nt.csv", "x,y\n1,2\n", /: no column "z" \(columns: x, y\)$/],
    [
      "a value beyond float32",
      "big.csv",
      "x,y\n1e39,1\n",
      /: column "x" has the value "1e39" on line 2, beyond a 32-bit float/,
    ],
    ["a ragged row", "ragged.csv", "x,y\n1,2\n3\n", /: line 3 has 1 field, the header has 2$/],
  ];
  for (const [name, file, text, message] of bad) {
    it(`refuses ${name} with one InputError line naming the file`, async () => {
      const path = csv(file, text);
      const target = name === "an unknown target" ? "z" : name === "a text target" ? "diagnosis" : undefined;
      await assert.rejects(inspectTable(path, { target }), (error: Error) => {
        assert.ok(error instanceof InputError);
        assert.ok(error.message.startsWith(`Cannot register dataset "${path}": `), error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }
});
