import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parsePlan, planId } from "../../../src/ml/plan.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { createPlanGate } from "../../../src/node/plans/plan-gate.js";
import { createPlanRegistry } from "../../../src/node/plans/plan-registry.js";

const root = mkdtempSync(join(tmpdir(), "fbm-gate-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const plan = parsePlan({
  data: { target: "y" },
  model: [{ dense: { units: 10 } }, { dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const id = planId(plan);
// 3 features: 3*10+10 + 10*1+1 = 51 parameters.
const dataset = {
  id: "ds_000000000001",
  name: "heart",
  type: "csv",
  shape: [20, 4],
  tags: ["heart"],
  columns: ["a", "b", "c", "y"].map((name) => ({ name, dtype: "float64" })),
} as unknown as DatasetEntry;

async function setup(policy: { planApproval?: boolean; maxParams?: number } = {}, now?: () => number) {
  const home = mkdtempSync(join(root, `home${n++}-`));
  const registry = await createPlanRegistry({ path: join(home, "plans.json") });
  const logs: string[] = [];
  const gate = createPlanGate({
    registry,
    homeDir: home,
    researcher: "http://127.0.0.1:50051",
    log: (line) => logs.push(line),
    now,
    catalogue: { getDataset: (i) => (i === dataset.id ? dataset : undefined) },
    policy: { name: "site-a", planApproval: policy.planApproval ?? true, maxParams: policy.maxParams ?? 1000 },
  });
  return { home, registry, gate, logs };
}

const request = { experiment: "heart-study", datasetId: dataset.id };

describe("createPlanGate()", () => {
  it("refuses an unknown plan with plan_not_approved, the approve command, and records it as pending", async () => {
    const { registry, gate, logs } = await setup();
    const reply = await gate(id, plan, request);
    assert.deepEqual(reply, {
      kind: "error",
      code: "plan_not_approved",
      planId: id,
      message: `Plan ${id.slice(0, 12)} is not approved on node site-a: its operator runs \`fbm-node plan approve ${id.slice(0, 12)}\``,
    });
    const entry = registry.get(id)!;
    assert.deepEqual(
      [entry.status, entry.requestedBy],
      ["pending", { experiment: "heart-study", researcher: "http://127.0.0.1:50051", dataset: request.datasetId }],
    );
    assert.deepEqual(JSON.parse(entry.planJson), JSON.parse(JSON.stringify(plan)));
    await gate(id, plan, request);
    assert.equal(logs.length, 1, "the operator is told once per plan, not at every retry");
    assert.match(logs[0], /awaits approval: review it with `fbm-node --home .* plan show /);
  });

  it("reminds the operator of a still pending plan at most once a minute", async () => {
    let clock = 0;
    const { gate, logs } = await setup({}, () => clock);
    for (const at of [0, 2_000, 59_999, 60_000, 62_000, 119_999, 120_000]) {
      clock = at;
      await gate(id, plan, request);
    }
    assert.equal(logs.length, 3, logs.join("\n"));
    assert.match(logs[1], /still awaits \(requested \S+\) approval: review it with/);
  });

  it("reads the policy on every request, so a config change applies to the next one", async () => {
    const policy = { name: "site-a", planApproval: true, maxParams: 1000 };
    const { registry } = await setup();
    const gate = createPlanGate({
      registry,
      homeDir: "/h",
      researcher: "r",
      log: () => {},
      catalogue: { getDataset: () => undefined },
      policy,
    });
    assert.equal((await gate(id, plan, request))?.kind, "error");
    policy.planApproval = false;
    assert.equal(await gate(id, plan, request), undefined);
  });

  it("lets an approved plan through, even when the approval was saved by another process", async () => {
    const { home, gate } = await setup();
    await gate(id, plan, request);
    const operator = await createPlanRegistry({ path: join(home, "plans.json") });
    await operator.approve(id.slice(0, 6));
    assert.equal(await gate(id, plan, request), undefined);
  });

  it("refuses a rejected plan with plan_rejected and the operator's note", async () => {
    const { registry, gate } = await setup();
    await gate(id, plan, request);
    await registry.reject(id, "too big for us");
    const reply = await gate(id, plan, request);
    assert.equal(reply?.kind, "error");
    assert.equal(reply?.kind === "error" && reply.code, "plan_rejected");
    assert.match(
      reply?.kind === "error" ? reply.message : "",
      /^Plan [0-9a-f]{12} was rejected on node site-a \("too big for us"\)/,
    );
  });

  it("with plan_approval false, runs any valid plan and records nothing", async () => {
    const { registry, gate } = await setup({ planApproval: false });
    assert.equal(await gate(id, plan, request), undefined);
    await registry.reload();
    assert.deepEqual(registry.list(), []);
  });

  it("refuses a model above max_params with plan_too_large, approved or not, naming the count and the setting", async () => {
    for (const planApproval of [true, false]) {
      const { registry, gate } = await setup({ planApproval, maxParams: 50 });
      const reply = await gate(id, plan, request);
      assert.equal(reply?.kind === "error" && reply.code, "plan_too_large");
      assert.match(
        reply?.kind === "error" ? reply.message : "",
        /has 51 parameters on dataset "heart", more than node site-a allows \(max_params 50\)/,
      );
      assert.match(reply?.kind === "error" ? reply.message : "", /config set max_params N/);
      assert.deepEqual(registry.list(), [], "an oversized plan is not put up for approval");
    }
    const { gate } = await setup({ planApproval: false, maxParams: 51 });
    assert.equal(await gate(id, plan, request), undefined, "exactly max_params is allowed");
  });
});
