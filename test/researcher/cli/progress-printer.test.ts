import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createProgressPrinter } from "../../../src/researcher/cli/progress-printer.js";

describe("progress printer", () => {
  it("prints one line per round with nodes, loss and metrics, and the final model", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print({
      event: "round",
      round: 2,
      rounds: 10,
      nodes: [],
      failed: [],
      loss: 0.25,
      metrics: { global: { accuracy: 0.9 } },
      seconds: 1.5,
    });
    print({ event: "done", rounds: 10, metrics: { accuracy: 0.95 }, model: "/m", run: "/r" });
    assert.match(out, /^round {2}2\/10 {2}nodes 0 {2}loss 0\.2500 {2}global: accuracy 0\.900 {2}1\.5 s$/m);
    assert.match(out, /Final model: \/m\nFinal validation: accuracy 0\.9500/);
  });
});
