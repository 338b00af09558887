import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NamedTensor, TrainingArgs } from "../../../src/ml/types.js";
import { type ApprovalInput, awaitPlanApproval } from "../../../src/researcher/run/approval.js";
import type { NodeFailure } from "../../../src/researcher/run/events.js";
import type { Participant } from "../../../src/researcher/run/roster.js";
import type { Hub } from "../../../src/researcher/server/hub.js";
import type { ReplyBody, TaskBody } from "../../../src/wire/index.js";

const planId = "ab".repeat(32);
const global: NamedTensor[] = [
  { name: "dense/kernel", shape: [2], dtype: "float32", data: Float32Array.of(0.5, -0.5) },
];
const args: TrainingArgs = {
  epochs: 3,
  updates: 0,
  batchSize: 8,
  testRatio: 0.2,
  testOnGlobal: true,
  testOnLocal: true,
  metrics: [],
  seed: 1,
  fedproxMu: 0,
};
const participant = (node: string, name: string): Participant => ({
  node,
  name,
  dataset: { id: `ds_${node}` } as Participant["dataset"],
});
const nodes = [participant("node_a", "site-a"), participant("node_b", "site-b")];

const ok: ReplyBody = { kind: "train", result: { params: global, sampleCount: 10, trainLoss: Number.NaN, seconds: 0 } };
const pending = (name: string): ReplyBody => ({
  kind: "error",
  code: "plan_not_approved",
  planId,
  message: `Plan ${planId.slice(0, 12)} is not approved on node ${name}: run \`fbm-node --home /h/${name} plan approve ${planId.slice(0, 12)}\``,
});

/** A hub whose nodes answer from scripts: the n-th request to a node gets its n-th reply (the last one repeats). */
function scriptedHub(replies: Record<string, ReplyBody[]>) {
  const sent: { node: string; body: TaskBody }[] = [];
  const hub = {
    async send(node: string, body: TaskBody) {
      const count = sent.filter((s) => s.node === node).length;
      sent.push({ node, body });
      const script = replies[node];
      return script[Math.min(count, script.length - 1)];
    },
  } as unknown as Hub;
  return { hub, sent };
}

function input(hub: Hub, refusals: NodeFailure[], overrides: Partial<ApprovalInput> = {}): ApprovalInput {
  return {
    hub,
    experiment: "study",
    participants: nodes,
    planId,
    planJson: "{}",
    global,
    args,
    waitMs: 0,
    timeoutMs: 1000,
    retryMs: 5,
    onRefusal: (f) => refusals.push(f),
    ...overrides,
  };
}

describe("awaitPlanApproval()", () => {
  it("asks each participant with an evaluation-only train task (no epochs, no updates, no validation) and resolves when all accept", async () => {
    const { hub, sent } = scriptedHub({ node_a: [ok], node_b: [ok] });
    const refusals: NodeFailure[] = [];
    await awaitPlanApproval(input(hub, refusals));
    assert.deepEqual(sent.map((s) => s.node).sort(), ["node_a", "node_b"]);
    const body = sent[0].body;
    assert.equal(body.kind, "train");
    if (body.kind !== "train") return;
    assert.deepEqual(
      [body.planId, body.args.epochs, body.args.updates, body.args.testOnGlobal, body.args.testOnLocal],
      [planId, 0, 0, false, false],
    );
    assert.deepEqual(refusals, []);
  });

  it("without nodes.wait, fails at once with one line naming each refusing node, the plan and the approve command", async () => {
    const { hub } = scriptedHub({ node_a: [pending("site-a")], node_b: [ok] });
    const refusals: NodeFailure[] = [];
    await assert.rejects(awaitPlanApproval(input(hub, refusals)), (error: Error & { exitCode?: number }) => {
      assert.equal(error.exitCode, 1);
      assert.equal(
        error.message,
        `Cannot train plan abababababab: 1 node(s) refused it: site-a (node_a): Plan abababababab is not approved on node site-a: ` +
          "run `fbm-node --home /h/site-a plan approve abababababab` (set nodes.wait to wait for approval)",
      );
      return true;
    });
    assert.deepEqual(
      refusals.map((f) => [f.node, f.code]),
      [["node_a", "plan_not_approved"]],
    );
  });

  it("with nodes.wait, asks again only the nodes still pending until their operators approve, reporting each refusal once", async () => {
    const { hub, sent } = scriptedHub({
      node_a: [pending("site-a"), pending("site-a"), pending("site-a"), ok],
      node_b: [ok],
    });
    const refusals: NodeFailure[] = [];
    await awaitPlanApproval(input(hub, refusals, { waitMs: 600_000 }));
    assert.deepEqual(sent.map((s) => s.node).sort(), ["node_a", "node_a", "node_a", "node_a", "node_b"]);
    assert.equal(refusals.length, 1);
  });

  it("with nodes.wait, gives up when the wait runs out, saying how long it waited", async () => {
    const { hub } = scriptedHub({ node_a: [pending("site-a")], node_b: [pending("site-b")] });
    const refusals: NodeFailure[] = [];
    await assert.rejects(
      awaitPlanApproval(input(hub, refusals, { waitMs: 30 })),
      /2 node\(s\) refused it: site-a .*; site-b \(node_b\): .*plan approve abababababab` \(waited 0 s for approval: nodes\.wait\)$/,
    );
    assert.deepEqual(
      refusals.map((f) => f.node),
      ["node_a", "node_b"],
    );
  });

  it("does not wait for a rejected or oversized plan: it fails at once with the node's reason", async () => {
    const rejected: ReplyBody = {
      kind: "error",
      code: "plan_rejected",
      planId,
      message: `Plan abababababab was rejected on node site-b ("too big")`,
    };
    const { hub, sent } = scriptedHub({ node_a: [pending("site-a")], node_b: [rejected] });
    const refusals: NodeFailure[] = [];
    await assert.rejects(
      awaitPlanApproval(input(hub, refusals, { waitMs: 60_000 })),
      /site-b \(node_b\): Plan abababababab was rejected on node site-b \("too big"\)/,
    );
    assert.equal(sent.length, 2);
    assert.deepEqual(refusals.map((f) => f.code).sort(), ["plan_not_approved", "plan_rejected"]);
  });

  it("leaves other failures (a dataset that fails to load, a lost node) to round 1", async () => {
    const broken: ReplyBody = {
      kind: "error",
      code: "invalid_input",
      message: "Dataset changed since it was registered",
    };
    const { hub } = scriptedHub({ node_a: [broken], node_b: [ok] });
    await awaitPlanApproval(input(hub, []));
  });

  it("prints a peer's message on one line: control characters become spaces", async () => {
    const evil: ReplyBody = { kind: "error", code: "plan_rejected", planId, message: "no\n\u0007\u001bway\r" };
    const { hub } = scriptedHub({ node_a: [evil], node_b: [ok] });
    await assert.rejects(awaitPlanApproval(input(hub, [])), /site-a \(node_a\): no way$/);
  });
});
