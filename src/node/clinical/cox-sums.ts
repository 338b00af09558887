import type { CoxTies } from "../../wire/index.js";

/** One node's part of a Cox Newton step: its strata's log partial likelihood, score and information. */
export interface CoxSums {
  loglik: number;
  gradient: Float64Array;
  /** Minus the Hessian, p × p row-major. */
  information: Float64Array;
  events: number;
}

/**
 * The log partial likelihood of the rows (x: n × p row-major) at β, summed over strata, with its
 * gradient and information, for Breslow's or Efron's handling of tied event times (Therneau & Grambsch,
 * Modeling Survival Data, 2000, §3.3; the sums R's coxph computes). Risk sets never cross strata, so a
 * node's sums need only its own rows: pooled over nodes they are the partial likelihood stratified by node.
 */
export function coxSums(
  x: Float64Array,
  p: number,
  time: Float64Array,
  event: Uint8Array,
  stratum: Int32Array,
  ties: CoxTies,
  beta: ArrayLike<number>,
): CoxSums {
  const n = time.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => stratum[a] - stratum[b] || time[b] - time[a] || event[a] - event[b],
  );
  const eta = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += x[r * p + j] * beta[j];
    eta[r] = s;
  }
  const gradient = new Float64Array(p);
  const information = new Float64Array(p * p);
  let loglik = 0;
  let events = 0;
  // Risk-set sums over rows with time ≥ t in the stratum: S0 = Σ e^η, S1 = Σ x e^η, S2 = Σ x xᵀ e^η.
  const s1 = new Float64Array(p);
  const s2 = new Float64Array(p * p);
  const d1 = new Float64Array(p);
  const d2 = new Float64Array(p * p);
  const a1 = new Float64Array(p);
  let s0 = 0;
  let i = 0;
  while (i < n) {
    const first = order[i];
    if (i === 0 || stratum[order[i - 1]] !== stratum[first]) {
      s0 = 0;
      s1.fill(0);
      s2.fill(0);
    }
    // Every row at this time (same stratum) joins the risk set; its events form the tied group.
    let j = i;
    let d = 0;
    let d0 = 0;
    d1.fill(0);
    d2.fill(0);
    while (j < n && stratum[order[j]] === stratum[first] && time[order[j]] === time[first]) {
      const r = order[j];
      const w = Math.exp(eta[r]);
      s0 += w;
      for (let a = 0; a < p; a++) {
        const xa = x[r * p + a];
        s1[a] += w * xa;
        for (let b = 0; b <= a; b++) s2[a * p + b] += w * xa * x[r * p + b];
      }
      if (event[r] === 1) {
        d++;
        d0 += w;
        loglik += eta[r];
        for (let a = 0; a < p; a++) {
          const xa = x[r * p + a];
          gradient[a] += xa;
          d1[a] += w * xa;
          for (let b = 0; b <= a; b++) d2[a * p + b] += w * xa * x[r * p + b];
        }
      }
      j++;
    }
    events += d;
    for (let k = 0; k < d; k++) {
      // Efron: the k-th of d tied deaths sees the risk set less k/d of the dying rows' weight.
      const f = ties === "efron" ? k / d : 0;
      const r0 = s0 - f * d0;
      loglik -= Math.log(r0);
      for (let a = 0; a < p; a++) {
        a1[a] = (s1[a] - f * d1[a]) / r0;
        gradient[a] -= a1[a];
      }
      for (let a = 0; a < p; a++)
        for (let b = 0; b <= a; b++) information[a * p + b] += (s2[a * p + b] - f * d2[a * p + b]) / r0 - a1[a] * a1[b];
    }
    i = j;
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) information[b * p + a] = information[a * p + b];
  return { loglik, gradient, information, events };
}

/**
 * Harrell's concordance counts within strata at β, as R's survival::concordance: a pair is comparable
 * when the one with the event has the shorter time (or the same time, the other censored); it is
 * concordant when that one has the higher risk score x·β, discordant when lower, tied when equal.
 */
export function coxConcordance(
  x: Float64Array,
  p: number,
  time: Float64Array,
  event: Uint8Array,
  stratum: Int32Array,
  beta: ArrayLike<number>,
): { concordant: number; discordant: number; tiedRisk: number } {
  const n = time.length;
  const eta = new Float64Array(n);
  for (let r = 0; r < n; r++) for (let j = 0; j < p; j++) eta[r] += x[r * p + j] * beta[j];
  let concordant = 0;
  let discordant = 0;
  let tiedRisk = 0;
  for (let i = 0; i < n; i++) {
    if (event[i] !== 1) continue;
    for (let j = 0; j < n; j++) {
      if (j === i || stratum[j] !== stratum[i]) continue;
      if (!(time[i] < time[j] || (time[i] === time[j] && event[j] === 0))) continue;
      if (eta[i] > eta[j]) concordant++;
      else if (eta[i] < eta[j]) discordant++;
      else tiedRisk++;
    }
  }
  return { concordant, discordant, tiedRisk };
}
