import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../../src/common/log.js";
import { createProgressPrinter, progressBar } from "../../../src/researcher/cli/progress-printer.js";

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
      time: 0,
    });
    print({ event: "done", rounds: 10, metrics: { accuracy: 0.95 }, model: "/m", run: "/r" });
    assert.match(out, /^round {2}2\/10 {2}nodes 0 {2}loss 0\.2500 {2}global: accuracy 0\.900 {2}1\.5 s$/m);
    assert.match(out, /Final model: \/m\nFinal validation: accuracy 0\.9500/);
  });

  const progress = (node: string, step: number) => ({
    event: "progress" as const,
    round: 3,
    node,
    name: `hospital-${node}`,
    epoch: 1,
    step,
    total_steps: 10,
    loss: 0.5,
  });
  const ESC = String.fromCharCode(27);
  const visible = (out: string) => out.replace(new RegExp(`${ESC}\\[\\d*[A-Za-z]`, "g"), "");

  it("leaves the loss out, never NaN or 0, when the nodes withheld it (under dp)", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    const metrics = { global: { accuracy: 0.9 } };
    print({ event: "round", round: 1, rounds: 2, nodes: [], failed: [], metrics, seconds: 1, time: 0 });
    assert.match(out, /^round 1\/2 {2}nodes 0 {2}global: accuracy 0\.900 {2}1\.0 s$/m);
    assert.doesNotMatch(out, /loss|NaN/);
    const { loss: _, ...withheld } = progress("a", 4);
    assert.doesNotMatch(progressBar(withheld), /loss|NaN/);
    assert.match(progressBar(withheld), /step 4\/10$/);
  });

  it("on a terminal wraps long round lines to 80 columns at metric boundaries", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t), { isTty: true });
    const metrics = { accuracy: 0.9, precision: 0.8, recall: 0.7, f1: 0.75, auc: 0.95, f1_macro: 0.7 };
    print({
      event: "round",
      round: 1,
      rounds: 5,
      nodes: [],
      failed: [],
      loss: 0.3,
      metrics: { global: metrics, local: metrics },
      seconds: 2,
      time: 0,
    });
    const lines = out.trimEnd().split("\n");
    assert.ok(lines.length > 1);
    for (const l of lines) assert.ok(l.length <= 80, `${l.length} columns: ${l}`);
    assert.ok(lines.slice(1).every((l) => l.startsWith("    ")));
    // Nothing lost: the same words in the same order.
    assert.equal(
      lines
        .map((l) => l.trim())
        .join(" ")
        .replace(/ +/g, " "),
      out.replace(/\s+/g, " ").trim(),
    );
  });

  it("prints the pooled auc with its bound", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print({
      event: "round",
      round: 1,
      rounds: 1,
      nodes: [],
      failed: [],
      loss: 0.3,
      metrics: { global: { auc: 0.9 }, local: { auc: 0.95 } },
      auc_error: { global: 0.0123, local: 0.0001 },
      seconds: 2,
      time: 0,
    });
    assert.match(out, /global: auc 0\.900±0\.012 {2}local: auc 0\.950\s/);
  });

  it("on a terminal draws one bar per node and redraws them in place", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t), { isTty: true });
    print(progress("a", 5));
    print(progress("b", 10));
    print(progress("a", 10));
    // The last drawing (after the last erase) holds both nodes, a at 100%.
    const last = visible(out.slice(out.lastIndexOf("\x1b[2F")));
    assert.match(last, /^hospital-a +█{20} 100% {2}round 3 {2}step 10\/10 {2}loss 0\.5000\nhospital-b +█{20} 100%/);
    print.log("a log line");
    assert.match(visible(out), /a log line\nhospital-a/); // bars stay below log lines
    print({ event: "round", round: 3, rounds: 5, nodes: [], failed: [], loss: 0.3, metrics: {}, seconds: 2, time: 0 });
    assert.ok(out.includes(`${ESC}[2F${ESC}[Jround 3/5`)); // the bars give way to the round line
    for (const l of visible(out).split("\n")) assert.ok(l.length <= 80);
  });

  it("through the logger, a terminal's lines fit 80 columns with the time and level; elsewhere they stay whole", () => {
    const round = {
      event: "round" as const,
      round: 1,
      rounds: 5,
      nodes: [],
      failed: [],
      loss: 0.3,
      metrics: { global: { accuracy: 0.9, precision: 0.8, recall: 0.7, f1: 0.75 } },
      seconds: 2,
      time: 0,
    };
    for (const isTty of [true, false]) {
      let out = "";
      const logger = createLogger({ write: (t) => (out += t), now: () => new Date(0) });
      createProgressPrinter((t) => (out += t), { isTty, logger })(round);
      const lines = out.trimEnd().split("\n");
      assert.ok(lines[0].startsWith("1970-01-01T00:00:00.000Z INFO  round 1/5"));
      if (isTty) for (const l of lines) assert.ok(l.length <= 80, `${l.length}: ${l}`);
      else assert.equal(lines.length, 1);
    }
  });

  it("without a terminal prints no progress", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print(progress("a", 5));
    assert.equal(out, "");
  });
});

describe("progress printer: privacy and wide auc bounds", () => {
  const round = {
    event: "round" as const,
    round: 2,
    rounds: 5,
    nodes: [],
    failed: [],
    metrics: { global: { auc: 0.9939 } },
    seconds: 2,
    time: 0,
  };

  it("shows ε spent so far on round lines and on the done line under dp", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print({ ...round, privacy: { epsilon: 1.2345, delta: 1e-5 } });
    assert.match(out, /round 2\/5 .* ε 1\.23 {2}2\.0 s/);
    print({
      event: "done",
      rounds: 5,
      metrics: { accuracy: 0.95 },
      model: "/m",
      run: "/r",
      privacy: { mode: "local", epsilon: 2.5, delta: 1e-5 },
    });
    assert.match(out, /\nPrivacy spent: ε 2\.50, δ 1e-5 \(local dp, the largest over the nodes\)/);
  });

  it("prints no ε without dp", () => {
    let out = "";
    createProgressPrinter((t) => (out += t))(round);
    assert.doesNotMatch(out, /ε/);
  });

  it("a wide auc bound is printed as an estimate with what to change, not as a headline", () => {
    let out = "";
    const print = createProgressPrinter((t) => (out += t));
    print({ ...round, auc_error: { global: 0.19 } });
    assert.match(out, /global: auc ≈0\.994 \(±0\.190\)/);
    print({ event: "done", rounds: 5, metrics: { auc: 0.9939 }, auc_error: 0.19, model: "/m", run: "/r" });
    assert.match(out, /Final validation: auc ≈0\.994 \(±0\.190\)/);
    assert.match(out, /known only within ±0\.190.*raise training\.test_ratio.*lower min_count/);
    out = "";
    print({ event: "done", rounds: 5, metrics: { auc: 0.9939 }, auc_error: 0.01, model: "/m", run: "/r" });
    assert.match(out, /auc 0\.9939±0\.0100/);
    assert.doesNotMatch(out, /estimate/);
  });
});

describe("progress printer: the terminal's width", () => {
  const round = {
    event: "round" as const,
    round: 12,
    rounds: 20,
    nodes: [],
    failed: [],
    loss: 0.1234,
    metrics: {
      global: { accuracy: 0.9, precision: 0.8, recall: 0.7, f1: 0.75, auc: 0.95 },
      local: { accuracy: 0.91, precision: 0.81, recall: 0.71, f1: 0.76, auc: 0.96 },
    },
    seconds: 2,
    time: 0,
  };
  const printed = (columns?: number) => {
    let out = "";
    createProgressPrinter((t) => (out += t), { isTty: true, columns })(round);
    return out.trimEnd().split("\n");
  };

  it("wraps round lines to the terminal's width, 80 columns when it is unknown", () => {
    const wide = printed(300);
    assert.equal(wide.length, 1, "one line fits 300 columns");
    const narrow = printed(60);
    assert.ok(narrow.length > 2 && narrow.every((l) => l.length <= 60), narrow.join("\n"));
    const unknown = printed(undefined);
    assert.ok(unknown.length > 1 && unknown.every((l) => l.length <= 80) && unknown.some((l) => l.length > 60));
  });
});
