import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { minimumUpdates, parseAggregatorConfig } from "../../../src/researcher/aggregators/index.js";

describe("parseAggregatorConfig()", () => {
  const valid: [unknown, unknown][] = [
    [{ name: "fedavg" }, { name: "fedavg" }],
    [{ name: "fedavgm" }, { name: "fedavgm", serverLr: 1, momentum: 0.9 }],
    [
      { name: "fedprox", mu: 0.5 },
      { name: "fedprox", mu: 0.5 },
    ],
    [
      { name: "scaffold", server_lr: 0.5 },
      { name: "scaffold", serverLr: 0.5 },
    ],
    [{ name: "fedadam" }, { name: "fedadam", serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 }],
    [
      { name: "fedyogi", server_lr: 0.1, tau: 0.01 },
      { name: "fedyogi", serverLr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 },
    ],
    [{ name: "fedadagrad" }, { name: "fedadagrad", serverLr: 0.01, beta1: 0, tau: 0.001 }],
    [{ name: "trimmed_mean" }, { name: "trimmed_mean", beta: 0.1 }],
    [
      { name: "krum", f: 1 },
      { name: "krum", f: 1 },
    ],
    [
      { name: "multikrum", f: 1, m: 3 },
      { name: "multikrum", f: 1, m: 3 },
    ],
    [
      { name: "bulyan", f: 1 },
      { name: "bulyan", f: 1 },
    ],
    [
      { name: "qfedavg", q: 5 },
      { name: "qfedavg", q: 5, lr: 0.1 },
    ],
  ];
  for (const [input, expected] of valid) {
    it(`reads ${JSON.stringify(input)} with its defaults in camelCase`, () => {
      assert.deepEqual(parseAggregatorConfig(input), expected);
    });
  }

  const invalid: [unknown, string][] = [
    [
      { name: "fedsgd" },
      'aggregator.name: unknown aggregator "fedsgd" (one of fedavg, fedavgm, fedprox, scaffold, fedadam, fedyogi, fedadagrad, fedmedian, trimmed_mean, krum, multikrum, bulyan, qfedavg)',
    ],
    [{}, "aggregator.name: missing aggregator name"],
    [{ name: "fedavg", mu: 1 }, 'aggregator: unknown key "mu"'],
    [{ name: "fedadagrad", beta2: 0.9 }, 'aggregator: unknown key "beta2"'],
    [{ name: "fedadam", serverLr: 0.1 }, 'aggregator: unknown key "serverLr"'],
    [{ name: "trimmed_mean", beta: 0.5 }, "aggregator.beta: Too big: expected number to be <0.5"],
    [{ name: "krum" }, "aggregator.f: missing (number)"],
    [{ name: "krum", f: 1.5 }, "aggregator.f:"],
    [{ name: "bulyan", f: 0, clip_norm: 1 }, 'aggregator: unknown key "clip_norm"'],
    [{ name: "fedprox", mu: "big" }, "aggregator.mu: Invalid input: expected number, received string"],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input)} naming the key`, () => {
      assert.throws(
        () => parseAggregatorConfig(input),
        (e: unknown) => e instanceof InputError && e.message.startsWith(`Invalid aggregator: ${message}`),
      );
    });
  }
});

describe("minimumUpdates()", () => {
  it("is 2f + 3 for krum and 1 for averaging aggregators", () => {
    assert.equal(minimumUpdates({ name: "krum", f: 1 }), 5);
    assert.equal(minimumUpdates({ name: "multikrum", f: 0, m: 4 }), 4);
    assert.equal(minimumUpdates({ name: "fedavg" }), 1);
  });
});
