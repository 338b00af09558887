/**
 * Rényi differential privacy of the sampled Gaussian mechanism (SGM), and its conversion to (ε, δ).
 *
 * RDP of the SGM at integer and fractional orders: Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy
 * of the Sampled Gaussian Mechanism", Section 3.3 (the computation of log A_α); composition by adding RDP
 * (Mironov 2017, "Rényi Differential Privacy", Proposition 1); conversion to (ε, δ) by Balle et al. 2020,
 * "Hypothesis Testing Interpretations and Rényi Differential Privacy", Theorem 21. The same computation as
 * Opacus's RDP accountant (opacus/accountants/analysis/rdp.py), with its default orders.
 */

/**
 * RDP orders: 1 + x/10 for x = 1..99, then 12..63 (Opacus's and TF-Privacy's defaults), then every integer
 * 64..256 and 320..1024 by 64, 1536 and 2048. Small budgets need large orders: the conversion alone costs
 * about (log(1/δ) − log α)/(α − 1), ≈ 0.1 at α 63 and δ 1e-5, so orders up to 63 floored every ε at ~0.1.
 * The first 151 orders stay first and in place: the privacy ledger's rows from before hold only those
 * (privacy-ledger.ts).
 */
export const defaultOrders: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
  ...Array.from({ length: 193 }, (_, x) => 64 + x),
  ...Array.from({ length: 12 }, (_, x) => 320 + 64 * x),
  1536,
  2048,
];

/** How many orders the accountant had before the larger ones were added (a ledger row's minimum). */
export const legacyOrderCount = 151;

/** RDP at each order of `steps` compositions of the SGM with sampling rate q and noise multiplier σ. */
export function computeRdp(options: {
  q: number;
  noiseMultiplier: number;
  steps: number;
  orders?: readonly number[];
}): number[] {
  const { q, noiseMultiplier: sigma, steps } = options;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Sampling rate ${q} is not in [0, 1]`);
  if (!(sigma >= 0)) throw new RangeError(`Noise multiplier ${sigma} is negative`);
  return (options.orders ?? defaultOrders).map((alpha) => (steps === 0 ? 0 : steps * rdpAt(q, sigma, alpha)));
}

/**
 * The smallest ε over the orders for which (ε, δ)-DP holds, and its order. The default conversion is Balle et
 * al. 2020, Theorem 21 (Opacus's); `mironov` is the older ε = rdp − log δ / (α − 1) of Mironov 2017,
 * Proposition 3, which TF-Privacy's published tutorial figures used (kept to check against them).
 */
export function epsilonFromRdp(
  rdp: readonly number[],
  delta: number,
  options: { orders?: readonly number[]; conversion?: "balle" | "mironov" } = {},
) {
  const orders = options.orders ?? defaultOrders;
  if (rdp.length !== orders.length) throw new RangeError("RDP values and orders differ in length");
  if (!(delta > 0 && delta < 1)) throw new RangeError(`Delta ${delta} is not in (0, 1)`);
  let best = { epsilon: Number.POSITIVE_INFINITY, order: Number.NaN };
  orders.forEach((a, i) => {
    const eps =
      options.conversion === "mironov"
        ? rdp[i] - Math.log(delta) / (a - 1)
        : rdp[i] - (Math.log(delta) + Math.log(a)) / (a - 1) + Math.log((a - 1) / a);
    if (eps < best.epsilon) best = { epsilon: eps, order: a };
  });
  // Nothing spent is ε = 0 (the conversion's bound would still be positive: it is only a bound).
  if (rdp.every((r) => r === 0)) return { epsilon: 0, order: best.order };
  return best;
}

/** ε at δ after `steps` SGM steps (the usual one-call question). */
export function sgmEpsilon(options: { q: number; noiseMultiplier: number; steps: number; delta: number }): number {
  return epsilonFromRdp(computeRdp(options), options.delta).epsilon;
}

function rdpAt(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Number.POSITIVE_INFINITY;
  if (q === 1) return alpha / (2 * sigma ** 2);
  const logA = Number.isInteger(alpha) ? logAInteger(q, sigma, alpha) : logAFractional(q, sigma, alpha);
  return logA / (alpha - 1);
}

/** log A_α for integer α: a finite binomial sum (Mironov et al. 2019, Section 3.3). */
function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = Number.NEGATIVE_INFINITY;
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const s = logBinom + i * Math.log(q) + (alpha - i) * Math.log(1 - q) + (i * i - i) / (2 * sigma ** 2);
    logA = logAdd(logA, s);
  }
  return logA;
}

/** log A_α for fractional α: two series split at z0, summed until the terms fall below e^-30 (Section 3.3). */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = Number.NEGATIVE_INFINITY;
  let logA1 = Number.NEGATIVE_INFINITY;
  const z0 = sigma ** 2 * Math.log(1 / q - 1) + 0.5;
  let coef = 1; // the generalised binomial coefficient C(α, i)
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log(1 - q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log(1 - q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma ** 2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma ** 2) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

function logAdd(x: number, y: number): number {
  const a = Math.min(x, y);
  const b = Math.max(x, y);
  if (a === Number.NEGATIVE_INFINITY) return b;
  return Math.log1p(Math.exp(a - b)) + b;
}

function logSub(x: number, y: number): number {
  if (x < y) throw new RangeError("A log-space subtraction went negative");
  if (y === Number.NEGATIVE_INFINITY) return x;
  if (x === y) return Number.NEGATIVE_INFINITY;
  const d = Math.expm1(x - y);
  return Number.isFinite(d) ? Math.log(d) + y : x;
}

/**
 * log(erfc(x)), accurate far into the tail: erfc itself underflows near x = 27, its log does not.
 * x < 2: 1 − erf(x) from erf's series of positive terms (no cancellation inside the series);
 * x ≥ 2: Laplace's continued fraction erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated from the back, taken in log space so it never underflows.
 */
export function logErfc(x: number): number {
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) {
    // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return Math.log1p(-(2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum);
  }
  let fraction = x;
  for (let k = 200; k >= 1; k--) fraction = x + k / 2 / fraction;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(fraction);
}
