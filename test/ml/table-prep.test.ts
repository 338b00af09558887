import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { InputError } from "../../src/common/errors.js";
import { loadPreparedTable, profileTable } from "../../src/ml/data/table.js";
import { type Plan, parsePlan } from "../../src/ml/plan.js";
import { featureKinds, preparedFeatures, resolvePreparation } from "../../src/ml/table-prep.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-prep-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function plan(data: Record<string, unknown>): Plan {
  return parsePlan({
    data: { target: "y", ...data },
    model: [{ dense: { units: 1, activation: "sigmoid" } }],
    loss: "binaryCrossentropy",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  });
}

const columns = [
  { name: "age", dtype: "int64" },
  { name: "smoking", dtype: "string" },
  { name: "y", dtype: "int64" },
];

describe("featureKinds()", () => {
  it("one-hot encodes every text feature with categorical: onehot", () => {
    assert.deepEqual(featureKinds(plan({ categorical: "onehot" }), ["age", "smoking"], columns, "d"), [
      { name: "age", categorical: false },
      { name: "smoking", categorical: true },
    ]);
  });

  const bad: [string, Record<string, unknown>, string[], RegExp][] = [
    [
      "an unknown feature",
      { categorical: "onehot" },
      ["age", "bmi"],
      /The plan names column "bmi", which d does not have/,
    ],
    [
      "onehot on a numeric column",
      { categorical: { age: "onehot" } },
      ["age"],
      /one-hot encodes column "age", which holds numbers/,
    ],
    [
      "an undeclared text column",
      {},
      ["age", "smoking"],
      /Column "smoking" holds text in d: declare plan.data.categorical/,
    ],
  ];
  for (const [name, data, features, message] of bad) {
    it(`refuses ${name} with an InputError naming the column`, () => {
      assert.throws(
        () => featureKinds(plan(data), features, columns, "d"),
        (e: Error) => e instanceof InputError && message.test(e.message),
      );
    });
  }

  it("the plan schema refuses features with drop, and a categorical column that is not a feature", () => {
    assert.throws(() => plan({ features: ["age"], drop: ["smoking"] }), /give features or drop, not both/);
    assert.throws(() => plan({ impute: { numeric: "mean", fill: 2 } }), /fill is the value of numeric: constant/);
    assert.throws(() => plan({ categorical: "ordinal" }), /plan.data.categorical/);
    assert.throws(
      () => plan({ features: ["age"], categorical: { smoking: "onehot" } }),
      /"smoking" is not in features/,
    );
  });
});

describe("profileTable() and resolvePreparation()", () => {
  const a = csv("a.csv", "age,smoking,y\n50,never,1\n60,never,0\n,former,1\n40,vaping,0\n70,never,\n");
  const b = csv("b.csv", "age,smoking,y\n30,former,1\n20,former,0\n,,1\n");
  const features = [
    { name: "age", categorical: false },
    { name: "smoking", categorical: true },
  ];

  it("names only categories held by min_count rows, skips rows without a target, counts missing cells", async () => {
    const { columns: profile } = await profileTable(a, { target: "y", features, minCount: 2 });
    assert.deepEqual(profile[0], { name: "age", count: 3, sum: 150, sumSquares: 7700, min: 40, max: 60, missing: 1 });
    assert.deepEqual(profile[1].categories, [{ name: "never", count: 2 }]);
    assert.equal(profile[1].count, 4);
    assert.equal(JSON.stringify(profile).includes("vaping"), false);
  });

  it("pools the union of categories and the mean of the values present", async () => {
    const perNode = [
      { name: "A", columns: (await profileTable(a, { target: "y", features, minCount: 2 })).columns },
      { name: "B", columns: (await profileTable(b, { target: "y", features, minCount: 2 })).columns },
    ];
    const p = plan({ categorical: "onehot", impute: { numeric: "mean", categorical: "most_frequent" } });
    const prep = resolvePreparation(p, features, perNode);
    assert.deepEqual(prep.columns, [
      { name: "age", kind: "numeric", fill: 40 },
      { name: "smoking", kind: "onehot", categories: ["former", "never"], fill: "former" },
    ]);
    assert.deepEqual(preparedFeatures(prep), ["age", "smoking=former", "smoking=never", "smoking=(other)"]);
    const missing = resolvePreparation(
      plan({ categorical: "onehot", impute: { numeric: "constant", fill: -1, categorical: "missing_category" } }),
      features,
      perNode,
    );
    assert.deepEqual(preparedFeatures(missing).at(-1), "smoking=(missing)");
    assert.deepEqual(missing.columns[0], { name: "age", kind: "numeric", fill: -1 });
  });

  it("refuses missing cells when no impute rule is declared, naming the column and node", async () => {
    const perNode = [{ name: "A", columns: (await profileTable(a, { target: "y", features, minCount: 2 })).columns }];
    assert.throws(
      () => resolvePreparation(plan({ categorical: "onehot" }), features, perNode),
      /Column "age" has 1 missing value\(s\) on node A: declare plan.data.impute.numeric/,
    );
  });
});

describe("loadPreparedTable()", () => {
  const prep = {
    columns: [
      { name: "age", kind: "numeric" as const, fill: 40 },
      { name: "smoking", kind: "onehot" as const, categories: ["former", "never"], fill: "former" },
    ],
  };

  it("one-hot encodes, maps unseen categories to other, imputes blanks and skips rows without a target", async () => {
    const path = csv("eval.csv", "smoking,age,y\nnever,50,1\nvaping,,0\n,61,1\nformer,30,\n");
    const data = await loadPreparedTable(path, prep, { target: "y" });
    assert.equal(data.rows, 3);
    assert.equal(data.skipped, 1);
    assert.deepEqual(data.features, ["age", "smoking=former", "smoking=never", "smoking=(other)"]);
    assert.deepEqual([...data.x], [50, 0, 1, 0, 40, 0, 0, 1, 61, 1, 0, 0]);
    assert.deepEqual([...data.y], [1, 0, 1]);
  });

  it("refuses a blank with no fill and text in a numeric column, naming column and line", async () => {
    const blank = csv("blank.csv", "age,smoking,y\n,never,1\n");
    await assert.rejects(
      loadPreparedTable(blank, { columns: [{ name: "age", kind: "numeric" }] }, { target: "y" }),
      /column "age" has an empty value on line 2; declare plan.data.impute/,
    );
    const text = csv("text.csv", "age,smoking,y\nold,never,1\n");
    await assert.rejects(
      loadPreparedTable(text, prep, { target: "y" }),
      /column "age" has a non-numeric value "old" on line 2/,
    );
  });
});
