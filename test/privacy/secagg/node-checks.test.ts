import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { secaggExtension } from "../../../src/node/executors/secagg.js";
import { neighbourhoods, survivorsConnected } from "../../../src/privacy/secagg/graph.js";
import type { Peer } from "../../../src/privacy/secagg/messages.js";
import type { ReplyBody, SecaggTaskBody } from "../../../src/wire/index.js";
import {
  ask,
  type DrivenNode,
  drivenNodes,
  driverModel,
  NO_CONTENTS,
  roundToMasking,
} from "../../support/secagg-driver.js";

/**
 * What a node checks itself in a secure aggregation round, whatever the researcher sends
 * (src/node/executors/secagg-guard.ts): each test plays a researcher that breaks one rule.
 */

const refusal = (r: ReplyBody) => {
  assert.equal(r.kind, "error", `expected a refusal, got ${JSON.stringify(r)}`);
  return r as Extract<ReplyBody, { kind: "error" }>;
};
const advertise = (node: DrivenNode, session: string, cohort: number, verify = true) =>
  ask(node, { kind: "secagg", session, phase: "advertiseKeys", cohort, verify });

describe("minimum cohort (config secagg_min_nodes)", () => {
  for (const cohort of [1, 2]) {
    it(`a ${cohort}-node round is refused at AdvertiseKeys with code secagg_cohort, naming the setting`, async () => {
      const [a] = await drivenNodes(["a"]);
      const r = refusal(advertise(a, `s${cohort}`, cohort));
      assert.equal(r.code, "secagg_cohort");
      assert.match(r.message, /at least 3 nodes \(config secagg_min_nodes is 3\)/);
      assert.match(r.message, new RegExp(`the researcher asks ${cohort}`));
    });
  }

  it("a researcher that announces 3 but shares keys among 2 is refused at ShareKeys (no share leaves the node)", async () => {
    const [a, b] = await drivenNodes(["a", "b"]);
    const keys = [a, b].map((n) => advertise(n, "two", 3) as Extract<ReplyBody, { phase: "keys" }>);
    const peers: Peer[] = [a, b].map((n, i) => ({ id: n.id, index: i + 1, ...keys[i].keys, signed: keys[i].signed }));
    const task: SecaggTaskBody = {
      kind: "secagg",
      session: "two",
      phase: "shareKeys",
      peers,
      threshold: 2,
      cohort: ["a", "b"],
      neighbours: 0,
    };
    const r = refusal(ask(a, task));
    assert.equal(r.code, "secagg_cohort");
    assert.match(r.message, /the round's cohort has 2/);
    // Not trained either: the train task of a session that was refused at ShareKeys is refused before training.
    const masking = { session: "two", shares: [], clip: 1, bits: 16 };
    assert.throws(
      () =>
        secaggExtension({ model: driverModel(), masking, participant: a.sessions.get("two"), contents: NO_CONTENTS }),
      /this node has not shared keys in it/,
    );
  });

  it("a raised minimum (4) refuses a 3-node round, and a 4-node one goes ahead", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d"], { minNodes: 4 });
    assert.equal(refusal(advertise(nodes[0], "three", 3)).code, "secagg_cohort");
    const { masked } = roundToMasking(nodes, { session: "four", verify: true, threshold: 3 });
    assert.equal(masked.size, 4);
  });

  it("refuses to reveal shares when fewer than the minimum survived", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d"]);
    const round = roundToMasking(nodes, { session: "few", verify: false, threshold: 3, dropAfterShares: ["c", "d"] });
    const r = refusal(ask(round.byId.get("a") as DrivenNode, round.unmaskTask("a")));
    assert.equal(r.code, "secagg_cohort");
    assert.match(r.message, /the sum to unmask holds 2/);
  });

  it("refuses a threshold of 1 (a share would be the secret) and one at or below half", async () => {
    const nodes = await drivenNodes(["a", "b", "c"]);
    for (const threshold of [1, 0]) {
      assert.throws(() => roundToMasking(nodes, { session: `t${threshold}`, verify: false, threshold }), /threshold/);
    }
  });
});

describe("the neighbourhood graph (Bell et al. 2020)", () => {
  it("a neighbourhood that is not the node's in H(k, n) over the cohort is refused", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d", "e", "f"]);
    const keys = nodes.map((n) => advertise(n, "g", 6, false) as Extract<ReplyBody, { phase: "keys" }>);
    const peers: Peer[] = nodes.map((n, i) => ({ id: n.id, index: i + 1, ...keys[i].keys }));
    const graph = neighbourhoods(
      nodes.map((n) => n.id),
      2,
      "g",
    );
    const mine = graph.get("a") as string[];
    const wrong = ["a", ...nodes.map((n) => n.id).filter((id) => !mine.includes(id))].slice(0, 3);
    const r = refusal(
      ask(nodes[0], {
        kind: "secagg",
        session: "g",
        phase: "shareKeys",
        peers: peers.filter((p) => wrong.includes(p.id)),
        threshold: 2,
        cohort: nodes.map((n) => n.id),
        neighbours: 2,
      }),
    );
    assert.match(r.message, /not its neighbourhood in the round's graph/);
  });

  it("a survivor graph split by dropouts is refused at Unmasking: the pieces' sums would come out", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d", "e", "f", "g", "h"]);
    // k = 2: a ring. Dropping a's two neighbours leaves a alone in its piece.
    const ids = nodes.map((n) => n.id);
    const ring = neighbourhoods(ids, 2, "split");
    const cut = (ring.get("a") as string[]).filter((id) => id !== "a");
    const round = roundToMasking(nodes, {
      session: "split",
      verify: false,
      neighbours: 2,
      threshold: 2,
      dropAfterShares: cut,
    });
    assert.equal(survivorsConnected(round.graph, round.survivors), false);
    for (const id of round.survivors) {
      const r = refusal(ask(round.byId.get(id) as DrivenNode, round.unmaskTask(id)));
      assert.equal(r.code, "secagg_cohort");
      assert.match(r.message, /graph is split/);
    }
  });

  it("a connected survivor graph with dropouts is unmasked", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d", "e", "f", "g", "h"]);
    const round = roundToMasking(nodes, {
      session: "ok",
      verify: false,
      neighbours: 3,
      threshold: 3,
      dropAfterShares: ["a"],
    });
    for (const id of round.survivors) {
      const r = ask(round.byId.get(id) as DrivenNode, round.unmaskTask(id));
      assert.equal(r.kind, "secagg", JSON.stringify(r));
    }
  });
});

describe("consistency check (Bonawitz et al. 2017, §4, malicious variant)", () => {
  /** ConsistencyCheck for every survivor, each shown `shown(id)`; the signatures by node. */
  const signAll = (
    round: ReturnType<typeof roundToMasking>,
    session: string,
    shown: (id: string) => string[] = () => round.survivors,
  ) =>
    round.survivors.map((id) => {
      const r = ask(round.byId.get(id) as DrivenNode, {
        kind: "secagg",
        session,
        phase: "consistency",
        survivors: shown(id),
      });
      assert.equal(r.kind, "secagg", JSON.stringify(r));
      return { node: id, signature: (r as Extract<ReplyBody, { phase: "consistency" }>).signature };
    });

  it("an honest round: every survivor reveals after checking its neighbours' signatures", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d", "e"]);
    const round = roundToMasking(nodes, { session: "c1", verify: true, threshold: 3, dropAfterShares: ["e"] });
    const signatures = signAll(round, "c1");
    for (const id of round.survivors) {
      assert.equal(ask(round.byId.get(id) as DrivenNode, round.unmaskTask(id, signatures)).kind, "secagg");
    }
  });

  it("survivor sets that differ between nodes are caught: a node aborts instead of revealing", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d", "e"]);
    const round = roundToMasking(nodes, { session: "c2", verify: true, threshold: 3 });
    // The researcher tells a and b that e dropped, and the others that everyone survived.
    const told = (id: string) =>
      id === "a" || id === "b" ? round.survivors.filter((s) => s !== "e") : round.survivors;
    const signatures = round.survivors.map((id) => {
      const r = ask(round.byId.get(id) as DrivenNode, {
        kind: "secagg",
        session: "c2",
        phase: "consistency",
        survivors: told(id),
      });
      return { node: id, signature: (r as Extract<ReplyBody, { phase: "consistency" }>).signature };
    });
    const r = refusal(ask(round.byId.get("c") as DrivenNode, round.unmaskTask("c", signatures)));
    assert.equal(r.code, "secagg_verify");
    assert.match(r.message, /"a" signed another survivor set or trained another global model/);
    // And a node shown another set at Unmasking than the one it signed refuses too.
    const a = refusal(ask(round.byId.get("a") as DrivenNode, round.unmaskTask("a", signatures)));
    assert.match(a.message, /differs from the one this node signed/);
  });

  it("a node signs one survivor set per round only", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d"]);
    const round = roundToMasking(nodes, { session: "c3", verify: true, threshold: 3 });
    signAll(round, "c3");
    const again = refusal(
      ask(round.byId.get("a") as DrivenNode, {
        kind: "secagg",
        session: "c3",
        phase: "consistency",
        survivors: ["a", "b", "c"],
      }),
    );
    assert.match(again.message, /a second survivor set/);
  });

  it("different global models sent to different nodes (Pasquini et al. 2022) are caught before any share is revealed", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d"]);
    const round = roundToMasking(nodes, {
      session: "c4",
      verify: true,
      threshold: 3,
      model: (id) => driverModel(id === "d" ? 0.5 : 0),
    });
    const signatures = signAll(round, "c4");
    const r = refusal(ask(round.byId.get("a") as DrivenNode, round.unmaskTask("a", signatures)));
    assert.equal(r.code, "secagg_verify");
    assert.match(r.message, /"d" signed another survivor set or trained another global model/);
  });

  it("without enough neighbours' signatures (t) a node does not reveal", async () => {
    const nodes = await drivenNodes(["a", "b", "c", "d"]);
    const round = roundToMasking(nodes, { session: "c5", verify: true, threshold: 3 });
    const signatures = signAll(round, "c5").filter((s) => s.node === "b");
    const r = refusal(ask(round.byId.get("a") as DrivenNode, round.unmaskTask("a", signatures)));
    assert.match(r.message, /only 2 neighbour\(s\) signed the survivor set, below the threshold 3/);
  });

  it("with verify, Unmasking without the consistency check is refused", async () => {
    const nodes = await drivenNodes(["a", "b", "c"]);
    const round = roundToMasking(nodes, { session: "c6", verify: true, threshold: 2 });
    const r = refusal(ask(round.byId.get("a") as DrivenNode, round.unmaskTask("a")));
    assert.match(r.message, /before the consistency check/);
  });
});
