import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { parsePlan, planJson } from "../../../src/ml/plan.js";
import type { TablePreparation } from "../../../src/ml/table-prep.js";
import type { ColumnStats } from "../../../src/ml/types.js";
import type { ReplyBody } from "../../../src/wire/index.js";
import { csvText, curiousNode } from "./curious-node.js";

// 40 patients: ldl (3 not measured), smoking (2 smoke a pipe: the rare category; 1 not asked), a binary outcome.
const smoking = (i: number) => (i < 2 ? "pipe" : i === 7 ? "" : i % 2 ? "never" : "current");
const ldl = (i: number) => (i >= 2 && i < 5 ? "" : (100 + i * 1.2345).toFixed(4));
const rows = Array.from({ length: 40 }, (_, i) => [ldl(i), smoking(i), i % 2]);
const csv = csvText(["ldl", "smoking", "y"], rows);
const plan = parsePlan({
  data: { target: "y", categorical: "onehot", impute: { numeric: "mean" } },
  model: [{ dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const numericPlan = parsePlan({
  data: { target: "y" },
  model: [{ dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});

function columnsOf(reply: ReplyBody): ColumnStats[] {
  assert.equal(reply.kind, "stats", JSON.stringify(reply).slice(0, 300));
  return reply.kind === "stats" ? reply.columns : [];
}

describe("attack: the normalization and profile path tells what statistics would not", async () => {
  const node = await curiousNode(csv, { minCount: 10, target: "y" });
  after(node.close);

  it("a preparation naming the rare category: its one-hot sum is no exact count below min_count", async () => {
    // The researcher names "pipe" although the node's profile never published it.
    const preparation: TablePreparation = {
      columns: [
        { name: "ldl", kind: "numeric", fill: 100 },
        { name: "smoking", kind: "onehot", categories: ["current", "never", "pipe"] },
      ],
    };
    const columns = columnsOf(
      await node.run({ kind: "stats", datasetId: node.entry.id, planJson: planJson(plan), preparation }),
    );
    const pipe = columns.find((c) => c.name === "smoking=pipe")!;
    assert.ok(pipe.sum === 0 || pipe.sum >= 10, `smoking=pipe sums to ${pipe.sum}: that many patients smoke a pipe`);
    for (const c of columns) assert.ok(c.sum === 0 || c.count >= 10, JSON.stringify(c));
  });

  it("the profile tells no small missing count, and the rare category's rows are not a complement", async () => {
    const [ldlProfile, smokingProfile] = columnsOf(
      await node.run({ kind: "stats", datasetId: node.entry.id, planJson: planJson(plan) }),
    );
    assert.ok(ldlProfile.missing === 0 || (ldlProfile.missing ?? 0) >= 10, `${ldlProfile.missing} missing ldl values`);
    const named = (smokingProfile.categories ?? []).reduce((s, k) => s + k.count, 0);
    const rest = smokingProfile.count - named;
    assert.ok(
      rest === 0 || rest >= 10,
      `count ${smokingProfile.count} − named categories ${named} = ${rest} rare rows`,
    );
  });

  it("two fills for the missing cells: the sums' difference is no exact count of the missing ones", async () => {
    // The researcher sends the same preparation with fills 0 and 1000: Σ differs by 1000 × missing.
    const sums = [];
    for (const [fill, category] of [
      [0, "never"],
      [1000, "current"],
    ] as const) {
      const preparation: TablePreparation = {
        columns: [
          { name: "ldl", kind: "numeric", fill },
          { name: "smoking", kind: "onehot", categories: ["current", "never"], fill: category },
        ],
      };
      const columns = columnsOf(
        await node.run({ kind: "stats", datasetId: node.entry.id, planJson: planJson(plan), preparation }),
      );
      sums.push(columns.map((c) => c.sum));
    }
    const ldlMissing = (sums[1][0] - sums[0][0]) / 1000;
    assert.ok(ldlMissing === 0 || ldlMissing >= 10, `${ldlMissing} ldl values are missing`);
    // smoking=never with the missing cells filled "never", then "current" (slots: ldl, current, never, other).
    const neverShift = Math.abs(sums[0][2] - sums[1][2]);
    const bothSent = sums[0][2] > 0 && sums[1][2] > 0;
    assert.ok(!bothSent || neverShift === 0, `${neverShift} smoking value(s) are missing`);
  });

  it("min and max of the normalization sums are rounded outward when stats_minmax is false", async () => {
    const node2 = await curiousNode(
      csvText(
        ["ldl", "y"],
        rows.slice(5).map((r) => [r[0], r[2]]),
      ),
      {
        minCount: 10,
        target: "y",
      },
    );
    after(node2.close);
    const [stats] = columnsOf(
      await node2.run({ kind: "stats", datasetId: node2.entry.id, planJson: planJson(numericPlan) }),
    );
    const values = rows.slice(5).map((r) => Number(r[0]));
    // float32 inputs: the true values within 1e-3.
    assert.ok(stats.min <= Math.min(...values) + 1e-3 && stats.max >= Math.max(...values) - 1e-3);
    assert.ok(
      !values.some((v) => Math.abs(v - stats.min) < 1e-3 || Math.abs(v - stats.max) < 1e-3),
      `exact min ${stats.min} / max ${stats.max} of a patient's value`,
    );
  });

  it("a dataset smaller than min_count sends no sums", async () => {
    const small = await curiousNode(
      csvText(
        ["ldl", "y"],
        rows.slice(5, 11).map((r) => [r[0], r[2]]),
      ),
      {
        minCount: 10,
        target: "y",
      },
    );
    after(small.close);
    const [stats] = columnsOf(
      await small.run({ kind: "stats", datasetId: small.entry.id, planJson: planJson(numericPlan) }),
    );
    assert.deepEqual([stats.count, stats.sum, stats.sumSquares], [0, 0, 0], JSON.stringify(stats));
  });
});
