import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Plan, parsePlan, planId } from "../../../src/ml/plan.js";
import type { TablePreparation } from "../../../src/ml/table-prep.js";
import { createPlanGate } from "../../../src/node/plans/plan-gate.js";
import { createPlanRegistry, type PlanRegistry } from "../../../src/node/plans/plan-registry.js";
import { MAX_PREPARED_INPUTS } from "../../../src/node/plans/preparation-check.js";
import { createTrainingNode, type TrainingNode } from "../../support/training-node.js";

// 20 patients: a public-ish column f00, a sensitive f01, a text column ward, and the label.
const rows = Array.from({ length: 20 }, (_, i) => [i % 4, 100 + i * 3.7, i % 2 ? "north" : "south", i % 2]);
const header = ["f00", "f01", "ward", "label"];
const approved = (data: Record<string, unknown>, units = 1): Plan =>
  parsePlan({
    data: { target: "label", ...data },
    model: [{ dense: { units, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
    loss: "binaryCrossentropy",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  });
const onlyF00 = approved({ features: ["f00"] });
const wardOneHot = approved({ features: ["f00", "ward"], categorical: "onehot" }, 100);
const args = { updates: 1, batchSize: 4 };

describe("attack: a task's table preparation reads columns the approved plan does not", () => {
  let node: TrainingNode;
  let registry: PlanRegistry;
  const home = mkdtempSync(join(tmpdir(), "fbm-prep-attack-"));
  before(async () => {
    registry = await createPlanRegistry({ path: join(home, "plans.json") });
    for (const plan of [onlyF00, wardOneHot]) {
      await registry.recordRequest(planId(plan), JSON.stringify(plan), { experiment: "attack", researcher: "r" });
      await registry.approve(planId(plan));
    }
    // The node's real plan gate: approval on, max_params 10,000.
    node = await createTrainingNode(
      { header, rows },
      {
        gate: (catalogue) =>
          createPlanGate({
            registry,
            catalogue,
            homeDir: home,
            researcher: "r",
            log: () => {},
            policy: { name: "site", planApproval: true, maxParams: 10_000 },
          }),
      },
    );
  });
  after(async () => {
    await node.close();
    await registry.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("a stats task naming the target gets no statistics of it", async () => {
    const reply = await node.stats({ plan: onlyF00, preparation: { columns: [{ name: "label", kind: "numeric" }] } });
    // Before the fix: the sum, min and max of the label column.
    assert.equal(reply.kind, "error", JSON.stringify(reply));
    assert.ok(reply.kind === "error");
    assert.equal(reply.code, "preparation_mismatch");
    assert.match(reply.message, /target "label"/);
  });

  it("a stats or train task naming a column the plan does not declare is refused, naming the column", async () => {
    const preparation: TablePreparation = { columns: [{ name: "f01", kind: "numeric" }] };
    const stats = await node.stats({ plan: onlyF00, preparation });
    const { reply: train } = await node.train({ plan: onlyF00, args, preparation });
    for (const reply of [stats, train]) {
      assert.ok(reply.kind === "error", JSON.stringify(reply).slice(0, 200));
      assert.equal(reply.code, "preparation_mismatch");
      assert.match(reply.message, /column "f01" at position 1, not declared by the plan; the approved plan reads f00/);
    }
  });

  it("a train task with the target as its input is refused", async () => {
    const { reply } = await node.train({
      plan: onlyF00,
      args,
      preparation: { columns: [{ name: "label", kind: "numeric" }] },
    });
    assert.ok(reply.kind === "error", reply.kind);
    assert.equal(reply.code, "preparation_mismatch");
  });

  it("extra, reordered or re-kinded columns are refused too", async () => {
    const cases: TablePreparation[] = [
      {
        columns: [
          { name: "f00", kind: "numeric" },
          { name: "f01", kind: "numeric" },
        ],
      },
      {
        columns: [
          { name: "ward", kind: "onehot", categories: ["north"] },
          { name: "f00", kind: "numeric" },
        ],
      },
      { columns: [{ name: "f00", kind: "onehot", categories: ["0", "1"] }] },
      { columns: [] },
    ];
    for (const [i, preparation] of cases.entries()) {
      const plan = i === 1 ? wardOneHot : onlyF00;
      const reply = await node.stats({ plan, preparation });
      assert.ok(reply.kind === "error", `case ${i}: ${reply.kind}`);
      assert.equal(reply.code, "preparation_mismatch", `case ${i}`);
    }
  });

  it("a million guessed categories are refused before anything is allocated", async () => {
    const categories = Array.from({ length: 1_000_000 }, (_, i) => `c${i}`);
    const reply = await node.stats({
      plan: wardOneHot,
      preparation: {
        columns: [
          { name: "f00", kind: "numeric" },
          { name: "ward", kind: "onehot", categories },
        ],
      },
    });
    assert.ok(reply.kind === "error", reply.kind);
    assert.equal(reply.code, "preparation_too_large");
    assert.match(
      reply.message,
      new RegExp(
        `1,000,002 model inputs, more than a node prepares for one task \\(${MAX_PREPARED_INPUTS.toLocaleString("en-US")}\\)`,
      ),
    );
  });

  it("max_params is checked on the input width after preparation (one-hot widens the model)", async () => {
    // (1 + 500 + 1 inputs) × 100 units + 100 + 101: 50,401 parameters, past max_params 10,000; sized on the
    // plan's 2 columns it is 401.
    const categories = Array.from({ length: 500 }, (_, i) => `c${i}`);
    const { reply } = await node.train({
      plan: wardOneHot,
      args,
      preparation: {
        columns: [
          { name: "f00", kind: "numeric" },
          { name: "ward", kind: "onehot", categories },
        ],
      },
    });
    assert.ok(reply.kind === "error", reply.kind);
    assert.equal(reply.code, "plan_too_large");
    assert.match(reply.message, /50,401 parameters/);
  });

  it("the preparation the plan declares runs (stats and training)", async () => {
    const preparation: TablePreparation = {
      columns: [
        { name: "f00", kind: "numeric" },
        { name: "ward", kind: "onehot", categories: ["north", "south"] },
      ],
    };
    const stats = await node.stats({ plan: wardOneHot, preparation });
    assert.equal(stats.kind, "stats", JSON.stringify(stats));
    const { reply } = await node.train({ plan: wardOneHot, args, preparation });
    assert.equal(reply.kind, "train", JSON.stringify(reply).slice(0, 300));
  });
});
