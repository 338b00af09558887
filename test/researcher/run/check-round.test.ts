import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NodeFailure } from "../../../src/researcher/run/events.js";
import { checkRound } from "../../../src/researcher/run/federated-round.js";
import type { NodeUpdate } from "../../../src/researcher/run/train-round.js";

const stop = (min: number) => ({
  nodes: { min, waitMs: 0, sample: 1, roundTimeoutMs: 1000, onFailure: "stop" as const },
});
const updates = (n: number) => Array.from({ length: n }, () => ({}) as NodeUpdate);
const lying: NodeFailure = {
  node: "node_liar",
  name: "liar",
  code: "invalid_update",
  message: "sample count 5000000000 exceeds the 100 samples of its dataset",
};

describe("checkRound() under nodes.on_failure: stop", () => {
  it("drops one node's invalid reply and goes on while nodes.min updates remain", () => {
    assert.doesNotThrow(() => checkRound(stop(2), 3, updates(2), [lying]));
    assert.doesNotThrow(() => checkRound(stop(2), 3, updates(2), [{ ...lying, code: "bad_reply" }]));
  });

  it("stops when the invalid reply leaves fewer than nodes.min updates", () => {
    assert.throws(
      () => checkRound(stop(3), 3, updates(2), [lying]),
      /Round 3 has 2 update\(s\), fewer than nodes.min 3/,
    );
  });

  it("still stops on a node that failed or refused (stop means stop for those)", () => {
    const refused: NodeFailure = { ...lying, code: "privacy_budget", message: "over budget" };
    assert.throws(
      () => checkRound(stop(1), 3, updates(2), [refused]),
      /Round 3 failed on 1 node\(s\): liar: over budget/,
    );
  });
});
