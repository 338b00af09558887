import { chiSquareSf, normalQuantile } from "../../ml/stats/distributions.js";
import { cholesky, choleskySolve } from "./linear-algebra.js";

/** One interval of a survival table: [start, end) in time units (end null: the last, open interval). */
export interface SurvivalStep {
  start: number;
  end: number | null;
  at_risk: number;
  events: number;
  censored: number;
  /** S at the end of the interval, its Greenwood standard error and 95 % interval (R's conf.type "log"). */
  survival: number;
  se: number;
  ci_low: number;
  ci_high: number;
}

export interface SurvivalCurve {
  group: string;
  n: number;
  events: number;
  steps: SurvivalStep[];
  /** The interval in which S first falls to 0.5 or below (null: it never does). */
  median: { start: number; end: number | null } | null;
}

/**
 * Kaplan–Meier from pooled interval counts: every event of an interval is counted at its end, with
 * every censoring of the interval still at risk (R's convention for ties). So S equals the exact
 * Kaplan–Meier of the times rounded up to their interval's end; Greenwood's variance
 * Var(log S) = Σ d / (n (n − d)) (Kalbfleisch & Prentice 2002, §1.4).
 */
export function kaplanMeier(
  group: string,
  starts: number[],
  events: ArrayLike<number>,
  censored: ArrayLike<number>,
): SurvivalCurve {
  const z = normalQuantile(0.975);
  let atRisk = 0;
  for (let i = 0; i < starts.length; i++) atRisk += events[i] + censored[i];
  const n = atRisk;
  let survival = 1;
  let greenwood = 0;
  let median: SurvivalCurve["median"] = null;
  const steps: SurvivalStep[] = [];
  starts.forEach((start, i) => {
    const d = events[i];
    const end = i + 1 < starts.length ? starts[i + 1] : null;
    if (d > 0) {
      survival *= 1 - d / atRisk;
      greenwood += atRisk > d ? d / (atRisk * (atRisk - d)) : Number.POSITIVE_INFINITY;
    }
    const logSe = Math.sqrt(greenwood);
    steps.push({
      start,
      end,
      at_risk: atRisk,
      events: d,
      censored: censored[i],
      survival,
      se: survival * logSe,
      ci_low: survival > 0 && Number.isFinite(logSe) ? survival * Math.exp(-z * logSe) : 0,
      ci_high: survival > 0 && Number.isFinite(logSe) ? Math.min(1, survival * Math.exp(z * logSe)) : 0,
    });
    if (median === null && survival <= 0.5) median = { start, end };
    atRisk -= d + censored[i];
  });
  const total = Array.from({ length: starts.length }, (_, i) => events[i]).reduce((a, b) => a + b, 0);
  return { group, n, events: total, steps, median };
}

export interface LogRank {
  chi_square: number;
  df: number;
  p: number;
  /** Per group: observed and expected events. */
  observed: number[];
  expected: number[];
}

/**
 * The log-rank test between groups on the pooled interval counts (Mantel 1966; R's survdiff with rho 0
 * on the rounded times): at each interval, expected events n_g d / n and the hypergeometric covariance
 * d (n − d) / (n − 1) · n_g / n (δ_gh − n_h / n); χ² = (O − E)ᵀ V⁻ (O − E) on G − 1 groups.
 */
export function logRank(events: number[][], censored: number[][]): LogRank {
  const groups = events.length;
  const intervals = events[0]?.length ?? 0;
  const atRisk = events.map((e, g) => e.reduce((s, d, i) => s + d + censored[g][i], 0));
  const observed = new Array(groups).fill(0);
  const expected = new Array(groups).fill(0);
  const k = groups - 1;
  const v = new Float64Array(k * k);
  for (let i = 0; i < intervals; i++) {
    const n = atRisk.reduce((a, b) => a + b, 0);
    const d = events.reduce((s, e) => s + e[i], 0);
    if (d > 0 && n > 0) {
      const factor = n > 1 ? (d * (n - d)) / (n - 1) : 0;
      for (let g = 0; g < groups; g++) {
        observed[g] += events[g][i];
        expected[g] += (atRisk[g] * d) / n;
      }
      for (let g = 0; g < k; g++)
        for (let h = 0; h < k; h++) v[g * k + h] += factor * (atRisk[g] / n) * ((g === h ? 1 : 0) - atRisk[h] / n);
    }
    for (let g = 0; g < groups; g++) atRisk[g] -= events[g][i] + censored[g][i];
  }
  const diff = observed.slice(0, k).map((o, g) => o - expected[g]);
  const solved = k === 0 ? [] : choleskySolve(cholesky(v, k), k, diff);
  const chi = diff.reduce((s, x, g) => s + x * solved[g], 0);
  return { chi_square: chi, df: k, p: k === 0 ? 1 : chiSquareSf(chi, k), observed, expected };
}
