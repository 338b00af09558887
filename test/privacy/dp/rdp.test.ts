import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeRdp, defaultOrders, epsilonFromRdp, logErfc, sgmEpsilon } from "../../../src/privacy/dp/rdp.js";

describe("RDP accountant of the sampled Gaussian mechanism", () => {
  it("uses Opacus's default orders: 1 + x/10 for x = 1..99, then 12..63", () => {
    assert.equal(defaultOrders.length, 99 + 52);
    assert.equal(defaultOrders[0], 1.1);
    assert.equal(defaultOrders[98], 10.9);
    assert.equal(defaultOrders[99], 12);
    assert.equal(defaultOrders.at(-1), 63);
  });

  it("matches Opacus's own accountant test: σ 1.5, q 0.04, 2250 steps, δ 1e-5 → ε 7.32911117143", () => {
    // opacus/tests/accountants_test.py, AccountingTest.test_rdp_accountant (Balle et al. 2020 conversion).
    const epsilon = sgmEpsilon({ q: 0.04, noiseMultiplier: 1.5, steps: Math.trunc(90 / 0.04), delta: 1e-5 });
    assert.ok(Math.abs(epsilon - 7.32911117143) < 1e-9, `ε ${epsilon}`);
  });

  // TF-Privacy tutorials/README.md, "Select Parameters": MNIST, 60000 samples, batch 256, δ = 1e-5, ε as
  // printed by compute_dp_sgd_privacy.py (steps = ceil(epochs · N / batch), Mironov 2017's conversion).
  for (const [sigma, epochs, published] of [
    [1.1, 60, 3.01],
    [0.7, 45, 7.1],
    [1.3, 15, 1.19],
  ]) {
    it(`matches TF-Privacy's MNIST tutorial: σ ${sigma}, ${epochs} epochs → ε ${published}`, () => {
      const steps = Math.ceil((epochs * 60000) / 256);
      const rdp = computeRdp({ q: 256 / 60000, noiseMultiplier: sigma, steps });
      const { epsilon } = epsilonFromRdp(rdp, 1e-5, { conversion: "mironov" });
      assert.equal(epsilon.toFixed(2), published.toFixed(2));
      // Balle et al.'s conversion is never looser than Mironov's.
      assert.ok(epsilonFromRdp(rdp, 1e-5).epsilon < epsilon);
    });
  }

  it("composes by adding RDP: two runs of n steps spend what one run of 2n steps does", () => {
    const one = computeRdp({ q: 0.01, noiseMultiplier: 1, steps: 500 });
    const two = computeRdp({ q: 0.01, noiseMultiplier: 1, steps: 1000 });
    for (const [i, r] of one.entries()) assert.ok(Math.abs(2 * r - two[i]) <= 1e-12 * two[i]);
  });

  it("gives the plain Gaussian mechanism α/(2σ²) per step when every sample is used (q = 1)", () => {
    const rdp = computeRdp({ q: 1, noiseMultiplier: 2, steps: 3, orders: [2, 10.5] });
    assert.deepEqual(rdp, [(3 * 2) / 8, (3 * 10.5) / 8]);
  });

  it("spends nothing without steps or without sampling, and everything without noise", () => {
    assert.equal(sgmEpsilon({ q: 0.1, noiseMultiplier: 1, steps: 0, delta: 1e-5 }), 0);
    assert.equal(sgmEpsilon({ q: 0, noiseMultiplier: 1, steps: 10, delta: 1e-5 }), 0);
    assert.equal(sgmEpsilon({ q: 0.1, noiseMultiplier: 0, steps: 1, delta: 1e-5 }), Number.POSITIVE_INFINITY);
  });

  it("ε grows with steps and shrinks with noise", () => {
    const at = (sigma: number, steps: number) => sgmEpsilon({ q: 0.02, noiseMultiplier: sigma, steps, delta: 1e-5 });
    assert.ok(at(1, 100) < at(1, 200));
    assert.ok(at(2, 100) < at(1, 100));
  });

  it("logErfc agrees with erfc where erfc is representable and stays finite in the tail", () => {
    // erfc values from Abramowitz & Stegun, Table 7.1 (erfc 0.5 = 0.4795001222, erfc 1 = 0.1572992071).
    assert.ok(Math.abs(Math.exp(logErfc(0.5)) - 0.4795001222) < 1e-10);
    assert.ok(Math.abs(Math.exp(logErfc(1)) - 0.1572992071) < 1e-10);
    assert.ok(Math.abs(Math.exp(logErfc(-1)) - 1.8427007929) < 1e-10);
    // Continuity where the series hands over to the continued fraction.
    assert.ok(Math.abs(logErfc(2 - 1e-12) - logErfc(2)) < 1e-9);
    // Tail: log erfc(x) ≈ −x² − log(x√π) − 1/(2x²) for large x.
    const x = 40;
    assert.ok(Math.abs(logErfc(x) - (-x * x - Math.log(x * Math.sqrt(Math.PI)) - 1 / (2 * x * x))) < 1e-6);
  });

  it("rejects a sampling rate outside [0, 1] and a δ outside (0, 1)", () => {
    assert.throws(() => computeRdp({ q: 1.5, noiseMultiplier: 1, steps: 1 }), /Sampling rate/);
    assert.throws(() => epsilonFromRdp(computeRdp({ q: 0.1, noiseMultiplier: 1, steps: 1 }), 0), /Delta/);
  });
});
