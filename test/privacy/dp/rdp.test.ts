import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  computeRdp,
  defaultOrders,
  epsilonFromRdp,
  legacyOrderCount,
  logErfc,
  sgmEpsilon,
} from "../../../src/privacy/dp/rdp.js";

describe("RDP accountant of the sampled Gaussian mechanism", () => {
  it("uses Opacus's default orders (1 + x/10 for x = 1..99, then 12..63) first, then larger ones up to 2048", () => {
    assert.equal(defaultOrders[0], 1.1);
    assert.equal(defaultOrders[98], 10.9);
    assert.equal(defaultOrders[99], 12);
    assert.equal(defaultOrders[legacyOrderCount - 1], 63);
    assert.equal(defaultOrders[legacyOrderCount], 64);
    assert.ok(defaultOrders.includes(256) && defaultOrders.includes(1024));
    assert.equal(defaultOrders.at(-1), 2048);
    for (let i = 1; i < defaultOrders.length; i++) assert.ok(defaultOrders[i] > defaultOrders[i - 1]);
  });

  it("makes budgets of 0.01–0.1 usable: orders up to 63 floored one step's ε near 0.1", () => {
    const step = { q: 0.0005, noiseMultiplier: 5, steps: 1 };
    const low = defaultOrders.slice(0, legacyOrderCount);
    const before = epsilonFromRdp(computeRdp({ ...step, orders: low }), 1e-5, { orders: low }).epsilon;
    const now = sgmEpsilon({ ...step, delta: 1e-5 });
    assert.ok(before > 0.09, `ε ${before} with orders up to 63`);
    assert.ok(now < 0.02, `ε ${now} with orders up to 2048`);
  });

  // An independent computation of A_α = E_{z∼N(0,σ²)}[((1 − q) + q·e^((2z − 1)/(2σ²)))^α] (Mironov, Talwar &
  // Zhang 2019, Section 3.1: the definition, not the binomial or erfc series of Section 3.3), by the
  // trapezoid rule in log space on a fine grid that covers the integrand's mass (spectrally accurate for a
  // smooth integrand that vanishes at both ends).
  function logAByQuadrature(q: number, sigma: number, alpha: number): number {
    const h = sigma / 40;
    const lo = -40 * sigma;
    const hi = alpha + 40 * sigma;
    const logTerms: number[] = [];
    for (let z = lo; z <= hi; z += h) {
      const logDensity = -(z * z) / (2 * sigma * sigma) - Math.log(sigma * Math.sqrt(2 * Math.PI));
      const exponent = (2 * z - 1) / (2 * sigma * sigma);
      // log((1 − q) + q·e^exponent), stable either way round.
      const logRatio =
        exponent > 0
          ? exponent + Math.log(q) + Math.log1p(((1 - q) / q) * Math.exp(-exponent))
          : Math.log1p(-q) + Math.log1p((q / (1 - q)) * Math.exp(exponent));
      logTerms.push(logDensity + alpha * logRatio);
    }
    const top = Math.max(...logTerms);
    return top + Math.log(logTerms.reduce((s, t) => s + Math.exp(t - top), 0) * h);
  }

  for (const [q, sigma, alpha] of [
    [0.01, 1.1, 2.5],
    [0.01, 1.1, 10.5],
    [0.01, 1.1, 64],
    [0.01, 1.1, 256],
    [0.1, 0.8, 256],
    [0.001, 2, 1024],
    [0.02, 1.5, 2048],
  ]) {
    it(`log A_α agrees with a quadrature of its definition at q ${q}, σ ${sigma}, α ${alpha}`, () => {
      const logA = computeRdp({ q, noiseMultiplier: sigma, steps: 1, orders: [alpha] })[0] * (alpha - 1);
      const reference = logAByQuadrature(q, sigma, alpha);
      assert.ok(Math.abs(logA - reference) <= 1e-9 * Math.max(1, Math.abs(reference)), `log A ${logA} vs ${reference}`);
    });
  }

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
