import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { parseExperiment } from "../../../src/researcher/run/config.js";
import type { Participant } from "../../../src/researcher/run/roster.js";
import { secaggSchema, thresholdFor } from "../../../src/researcher/run/secagg-config.js";
import { fixedPointFor } from "../../../src/researcher/run/secure-round.js";

const yaml = (aggregator: string, secagg: string) =>
  [
    "name: s",
    "tags: [t]",
    "rounds: 1",
    "nodes: {min: 5}",
    "plan: {data: {target: y}, model: [{dense: {units: 1}}], loss: meanSquaredError, optimizer: {name: sgd, learning_rate: 0.1}}",
    `aggregator: ${aggregator}`,
    `secagg: ${secagg}`,
  ].join("\n");

const participants = (counts: number[]) =>
  counts.map((sampleCount, i) => ({ node: `n${i}`, name: `n${i}`, dataset: { sampleCount } }) as Participant);

describe("secagg: in experiment.yaml", () => {
  it("{} takes the defaults: threshold 0.6, clip 1, bits auto, every node a neighbour, verify on", () => {
    assert.deepEqual(parseExperiment(yaml("{name: fedavg}", "{}"), "e.yaml").secagg, {
      threshold: { fraction: 0.6 },
      clip: 1,
      bits: "auto",
      dropout: 0.1,
      collusion: 0.1,
      verify: true,
    });
  });

  it("refuses SecAgg+ neighbours below the bound for nodes.min (exit 2), and takes them at or above it", () => {
    // nodes.min 5 (the yaml), dropout 0.3 + collusion 0.2: ⌈2.5⌉ + 1 = 4 neighbours at least, i.e. every other node.
    assert.throws(
      () => parseExperiment(yaml("{name: fedavg}", "{neighbours: 3, dropout: 0.3, collusion: 0.2}"), "e.yaml"),
      (e: Error) =>
        e instanceof InputError && /secagg.neighbours: 3 is below the 4 neighbours 5 nodes need/.test(e.message),
    );
    const ok = parseExperiment(yaml("{name: fedavg}", "{neighbours: 3, dropout: 0.1, collusion: 0.1}"), "e.yaml");
    assert.equal(ok.secagg?.neighbours, 3);
  });

  it("refuses secagg with nodes.min below 3 (exit 2): the sum of two tells each update", () => {
    const two = yaml("{name: fedavg}", "{}").replace("nodes: {min: 5}", "nodes: {min: 2}");
    assert.throws(
      () => parseExperiment(two, "e.yaml"),
      (e: Error) =>
        e instanceof InputError && /nodes.min: secure aggregation needs at least 3 nodes a round/.test(e.message),
    );
  });

  it("reads a threshold as a fraction up to 1 and as a count above", () => {
    assert.deepEqual(secaggSchema.parse({ threshold: 4, neighbours: 6 }).threshold, { count: 4 });
    assert.equal(thresholdFor(secaggSchema.parse({ threshold: 0.6 }), 5), 3);
    assert.equal(thresholdFor(secaggSchema.parse({ threshold: 4 }), 5), 4);
  });

  for (const [bad, why] of [
    ["{threshold: 0.5}", /threshold: must be a fraction above 0.5/],
    ["{threshold: 2.5}", /threshold: must be a fraction in \(0.5, 1\] or a whole count/],
    ["{clip: 0}", /clip/],
    ["{bits: 40}", /bits/],
    ["{cap: 1}", /cap/],
  ] as const) {
    it(`refuses ${bad}`, () => {
      assert.throws(() => parseExperiment(yaml("{name: fedavg}", bad), "e.yaml"), why);
    });
  }

  for (const name of ["fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi", "fedadagrad"]) {
    it(`accepts ${name}`, () => {
      assert.equal(parseExperiment(yaml(`{name: ${name}}`, "{}"), "e.yaml").aggregator.name, name);
    });
  }

  for (const name of ["fedmedian", "trimmed_mean", "krum, f: 1", "multikrum, f: 1", "bulyan, f: 0", "qfedavg"]) {
    it(`refuses ${name.split(",")[0]}: it needs individual updates`, () => {
      assert.throws(
        () => parseExperiment(yaml(`{name: ${name}}`, "{}"), "e.yaml"),
        (e: Error) => e instanceof InputError && /needs every node's individual update/.test(e.message),
      );
    });
  }

  it("takes scaffold: its control-variate changes travel as a second, unweighted part of the masked vector", () => {
    assert.equal(parseExperiment(yaml("{name: scaffold}", "{}"), "e.yaml").aggregator.name, "scaffold");
  });
});

describe("fixedPointFor()", () => {
  it("auto picks the most bits the 32-bit sum allows for the announced samples", () => {
    assert.equal(fixedPointFor(secaggSchema.parse({}), participants([500, 500])).bits, 22);
    assert.equal(fixedPointFor(secaggSchema.parse({}), participants([30_000, 30_000])).bits, 16);
    assert.equal(fixedPointFor(secaggSchema.parse({}), participants([1, 1])).bits, 24);
  });

  it("refuses explicit bits that could overflow (exit 2), naming the bits that fit", () => {
    assert.throws(
      () => fixedPointFor(secaggSchema.parse({ bits: 20 }), participants([30_000, 30_000])),
      (e: Error) => e instanceof InputError && e.exitCode === 2 && /use secagg.bits 16 or fewer/.test(e.message),
    );
    assert.equal(fixedPointFor(secaggSchema.parse({ bits: 16 }), participants([30_000, 30_000])).bits, 16);
  });

  it("refuses federations too large for 8 bits", () => {
    assert.throws(() => fixedPointFor(secaggSchema.parse({}), participants([20_000_000])), /8 or more bits/);
  });
});
