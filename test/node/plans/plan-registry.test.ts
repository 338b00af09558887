import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createPlanRegistry, resolveIn } from "../../../src/node/plans/plan-registry.js";

const root = mkdtempSync(join(tmpdir(), "fbm-plans-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => mkdtempSync(join(root, `r${n++}-`));

const from = { experiment: "heart", researcher: "http://127.0.0.1:50051" };
const idA = "a".repeat(8) + "1".repeat(56);
const idB = "a".repeat(8) + "2".repeat(56);
const idC = "c".repeat(64);
const planText = '{"loss":"meanSquaredError"}';

describe("createPlanRegistry()", () => {
  it("recordRequest() records an unknown plan as pending with the plan, requester and time, and it survives a reload", async () => {
    const path = join(freshDir(), "plans.json");
    const registry = await createPlanRegistry({ path });
    const entry = await registry.recordRequest(idA, planText, from);
    assert.deepEqual(
      { ...entry, requestedAt: "" },
      {
        id: idA,
        status: "pending",
        planJson: planText,
        note: "",
        requestedBy: from,
        requestedAt: "",
        decidedAt: "",
      },
    );
    assert.ok(!Number.isNaN(Date.parse(entry.requestedAt)));
    const reopened = await createPlanRegistry({ path });
    assert.deepEqual(reopened.list(), [entry]);
    assert.deepEqual(reopened.get(idA), entry);
  });

  it("recordRequest() leaves a known plan as it is: the first requester stays, a decision is not undone", async () => {
    const registry = await createPlanRegistry({ path: join(freshDir(), "plans.json") });
    const first = await registry.recordRequest(idA, planText, from);
    assert.deepEqual(
      await registry.recordRequest(idA, planText, { experiment: "other", researcher: "http://x:1" }),
      first,
    );
    await registry.reject(idA, "too big");
    const again = await registry.recordRequest(idA, planText, from);
    assert.equal(again.status, "rejected");
    assert.equal(again.note, "too big");
  });

  it("approve() and reject() set the status, the decision time and the note; approving clears a rejection note", async () => {
    const path = join(freshDir(), "plans.json");
    const registry = await createPlanRegistry({ path });
    await registry.recordRequest(idA, planText, from);
    const rejected = await registry.reject(idA, "  too big  ");
    assert.deepEqual([rejected.status, rejected.note], ["rejected", "too big"]);
    assert.ok(!Number.isNaN(Date.parse(rejected.decidedAt)));
    const approved = await registry.approve(idA);
    assert.deepEqual([approved.status, approved.note], ["approved", ""]);
    assert.equal((await createPlanRegistry({ path })).get(idA)?.status, "approved");
  });

  it("sees decisions another process saved: writes start from the file, reload() re-reads it", async () => {
    const path = join(freshDir(), "plans.json");
    const serving = await createPlanRegistry({ path });
    const operator = await createPlanRegistry({ path });
    await serving.recordRequest(idA, planText, from);
    await operator.reload();
    await operator.approve(idA.slice(0, 8));
    // `serve` records another plan: the operator's approval of the first must survive that save.
    await serving.recordRequest(idC, planText, from);
    assert.equal(serving.get(idA)?.status, "approved");
    await operator.reload();
    assert.deepEqual(
      operator.list().map((e) => [e.id, e.status]),
      [
        [idA, "approved"],
        [idC, "pending"],
      ],
    );
  });

  it("approve() of a plan the node was never asked about throws an InputError (exit 2)", async () => {
    const registry = await createPlanRegistry({ path: join(freshDir(), "plans.json") });
    await assert.rejects(registry.approve(idC), (error: Error & { exitCode?: number }) => {
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /^No plan "c{64}" on this node/);
      return true;
    });
  });

  it("saves atomically: after several writes the folder holds plans.json and its backup only, as valid JSON", async () => {
    const dir = freshDir();
    const registry = await createPlanRegistry({ path: join(dir, "plans.json") });
    await registry.recordRequest(idA, planText, from);
    await registry.recordRequest(idB, planText, from);
    await registry.approve(idA);
    await registry.reject(idB, "no");
    assert.deepEqual(readdirSync(dir).sort(), ["plans.json", "plans.json.bak"]);
    const [tables] = JSON.parse(readFileSync(join(dir, "plans.json"), "utf8"));
    assert.deepEqual(Object.keys(tables.plans).sort(), [idA, idB]);
  });

  it("a missing file is an empty registry, and nothing is written until something is recorded", async () => {
    const dir = freshDir();
    const registry = await createPlanRegistry({ path: join(dir, "plans.json") });
    assert.deepEqual(registry.list(), []);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe("resolveIn() resolves plan ids like git", () => {
  const ids = [idA, idB, idC];
  const cases: [string, string, string | RegExp][] = [
    ["a full id", idC, idC],
    ["a unique prefix of 6 characters", "cccccc", idC],
    ["an upper-case prefix", "CCCCCCC", idC],
    ["a unique prefix that tells two similar ids apart", "aaaaaaaa2", idB],
    [
      "an ambiguous prefix",
      "aaaaaa",
      /^Plan id "aaaaaa" is ambiguous: it starts 2 plans \(aaaaaaaa11111111, aaaaaaaa22222222\); give more characters$/,
    ],
    ["a prefix shorter than 6 characters", "ccccc", /^Plan id "ccccc" is too short: give at least 6 characters/],
    ["an unknown prefix", "dddddd", /^No plan "dddddd" on this node/],
  ];
  for (const [name, input, expected] of cases) {
    it(`${name}: ${typeof expected === "string" ? "resolves" : "throws"}`, () => {
      if (typeof expected === "string") assert.equal(resolveIn(ids, input), expected);
      else assert.throws(() => resolveIn(ids, input), { name: "InputError", message: expected });
    });
  }
});
