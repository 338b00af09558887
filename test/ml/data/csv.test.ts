import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { inspectCsv, loadCsv } from "../../../src/ml/data/csv.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-csv-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("inspectCsv()", () => {
  it("reports columns, int64/float64 dtypes, data rows and the file's sha256", async () => {
    const text = "age,weight,label\n30,71.5,0\n41,80,1\n-2,1e3,1\n";
    const info = await inspectCsv(csv("people.csv", text));
    assert.deepEqual(info.columns, ["age", "weight", "label"]);
    assert.deepEqual(info.dtypes, ["int64", "float64", "int64"]);
    assert.equal(info.rows, 3);
    assert.equal(info.sha256, createHash("sha256").update(text).digest("hex"));
  });

  it("accepts semicolon and tab delimiters, a BOM, CRLF line ends and blank lines", async () => {
    const semi = await inspectCsv(csv("semi.csv", "\uFEFFa;b\r\n1;2\r\n\r\n3;4.5\r\n"));
    assert.deepEqual(
      [semi.columns, semi.dtypes, semi.rows, semi.delimiter],
      [["a", "b"], ["int64", "float64"], 2, ";"],
    );
    const tab = await inspectCsv(csv("tab.csv", "a\tb\n1\t2\n"));
    assert.deepEqual([tab.columns, tab.rows], [["a", "b"], 1]);
  });

  it("streams 100k rows", async () => {
    const lines = ["x,y,z"];
    for (let i = 0; i < 100_000; i++) lines.push(`${i},${i * 0.5},${i % 2}`);
    const path = csv("big.csv", `${lines.join("\n")}\n`);
    const info = await inspectCsv(path);
    assert.equal(info.rows, 100_000);
    const data = await loadCsv(path, { target: "z" });
    assert.equal(data.x.length, 200_000);
    assert.equal(data.x[2 * 99_999 + 1], 99_999 * 0.5);
    assert.equal(data.y[99_999], 1);
  });

  const bad: [string, string, string, RegExp][] = [
    [
      "non-numeric cell",
      "nonnum.csv",
      "a,age\n1,2\n3,abc\n",
      /: column "age" has a non-numeric value "abc" on line 3$/,
    ],
    [
      "bad cell after blank lines",
      "blank.csv",
      "a,b\n1,2\n\n\n3,x\n",
      /: column "b" has a non-numeric value "x" on line 5$/,
    ],
    ["empty cell", "emptycell.csv", "a,b\n1,\n", /: column "b" has an empty value on line 2$/],
    [
      "ragged row",
      "ragged.csv",
      "a,b,c,d\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3\n",
      /: line 5 has 3 fields, the header has 4$/,
    ],
    ["empty file", "empty.csv", "", /: the file is empty; a header row naming the columns is required$/],
    ["header only", "header.csv", "a,b\n", /: the file has a header but no data rows$/],
    ["duplicate column", "dup.csv", "a,a\n1,2\n", /: column "a" appears twice in the header/],
    ["unclosed quote", "quote.csv", 'a,b\n"1,2\n', /^Cannot register dataset ".*quote\.csv": Quote Not Closed/],
    ["hexadecimal", "hex.csv", "a\n0x10\n", /has a non-numeric value "0x10" on line 2$/],
  ];
  for (const [name, file, text, message] of bad) {
    it(`rejects a CSV with ${name}: one InputError line naming the file`, async () => {
      const path = csv(file, text);
      await assert.rejects(inspectCsv(path), (error: Error) => {
        assert.ok(error instanceof InputError);
        assert.ok(error.message.startsWith(`Cannot register dataset "${path}": `), error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }

  it("rejects a missing file with a message naming it", async () => {
    const path = join(dir, "nope.csv");
    await assert.rejects(inspectCsv(path), {
      name: "InputError",
      message: `Cannot register dataset: file "${path}" does not exist`,
    });
  });
});

describe("loadCsv()", () => {
  const path = csv("train.csv", "a,b,y,c\n1,2,0,3\n4,5,1,6\n");

  it("gives row-major float32 features of every column but the target, and the target as y", async () => {
    const data = await loadCsv(path, { target: "y" });
    assert.deepEqual([...data.x], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...data.y], [0, 1]);
    assert.deepEqual(data.features, ["a", "b", "c"]);
    assert.deepEqual(data.sampleShape, [3]);
    assert.equal(data.rows, 2);
    assert.ok(data.x instanceof Float32Array && data.y instanceof Float32Array);
  });

  it("keeps only the named features, in the order given", async () => {
    const data = await loadCsv(path, { target: "y", features: ["c", "a"] });
    assert.deepEqual([...data.x], [3, 1, 6, 4]);
    assert.deepEqual(data.features, ["c", "a"]);
  });

  it("without a target, uses every column and an empty y", async () => {
    const data = await loadCsv(path);
    assert.deepEqual(data.sampleShape, [4]);
    assert.equal(data.y.length, 0);
  });

  it("names the unknown target column and lists the columns", async () => {
    await assert.rejects(loadCsv(path, { target: "diagnosis" }), {
      name: "InputError",
      message: `Cannot load dataset "${path}": no column "diagnosis" (columns: a, b, y, c)`,
    });
  });

  it("refuses a target that is also a feature", async () => {
    await assert.rejects(
      loadCsv(path, { target: "y", features: ["a", "y"] }),
      /cannot be both the target and a feature/,
    );
  });
});
