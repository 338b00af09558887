import { InputError, RuntimeFailure } from "../../common/errors.js";
import { chiSquareSf, normalQuantile, normalSf } from "../../ml/stats/distributions.js";
import { cholesky, choleskyInverse, choleskySolve, SingularMatrixError } from "./linear-algebra.js";

/** The pooled partial-likelihood sums at β: every node's log partial likelihood, score and information added. */
export interface PooledCoxSums {
  loglik: number;
  gradient: ArrayLike<number>;
  information: ArrayLike<number>;
  events: number;
  n: number;
}

export interface CoxCoefficient {
  name: string;
  estimate: number;
  se: number;
  hazard_ratio: number;
  hr_low: number;
  hr_high: number;
  z: number;
  p: number;
}

export interface CoxFit {
  coefficients: CoxCoefficient[];
  loglik: number;
  loglik_null: number;
  /** Likelihood-ratio test against β = 0: 2 (ℓ(β̂) − ℓ(0)) on p degrees of freedom, and its p-value. */
  lr_test: number;
  lr_p: number;
  iterations: number;
  n: number;
  events: number;
}

/**
 * Fits a Cox model by Newton–Raphson on the pooled partial likelihood (Therneau & Grambsch §3.3, as
 * R's coxph: from β = 0, step halving when ℓ falls, convergence when |1 − ℓ_old / ℓ| is below
 * `tolerance`). The nodes' sums are stratified by node, so the fit is coxph's with strata(node).
 */
export async function fitCox(options: {
  names: string[];
  evaluate: (beta: Float64Array) => Promise<PooledCoxSums>;
  maxIterations?: number;
  tolerance?: number;
}): Promise<CoxFit> {
  const { names } = options;
  const p = names.length;
  const maxIterations = options.maxIterations ?? 25;
  const tolerance = options.tolerance ?? 1e-12;
  let beta: Float64Array = new Float64Array(p);
  let sums = await options.evaluate(beta);
  const loglikNull = sums.loglik;
  if (sums.events <= p)
    throw new InputError(`Cannot fit the Cox model: ${sums.events} event(s) for ${p} parameters: use fewer covariates`);
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const step = choleskySolve(factor(sums.information, p, names), p, sums.gradient);
    let candidate = beta.map((b, j) => b + step[j]);
    let next = await options.evaluate(candidate);
    for (let halving = 0; !(next.loglik >= sums.loglik - 1e-12 * Math.abs(sums.loglik)) && halving < 10; halving++) {
      candidate = candidate.map((b, j) => (b + beta[j]) / 2);
      next = await options.evaluate(candidate);
    }
    const change = Math.abs(1 - sums.loglik / next.loglik);
    beta = candidate;
    sums = next;
    if (change < tolerance) return summarize(names, beta, sums, loglikNull, iteration);
  }
  throw new RuntimeFailure(
    `The Cox model did not converge in ${maxIterations} iterations: a covariate may separate events from survivors; give max_iterations more, or simplify the model`,
  );
}

function factor(information: ArrayLike<number>, p: number, names: string[]): Float64Array {
  try {
    return cholesky(Float64Array.from(information), p);
  } catch (error) {
    if (!(error instanceof SingularMatrixError)) throw error;
    throw new InputError(
      `Cannot fit the Cox model: the information matrix is singular at "${names[error.column]}": it is constant within every stratum, or a combination of the covariates before it: remove it`,
    );
  }
}

function summarize(
  names: string[],
  beta: Float64Array,
  sums: PooledCoxSums,
  loglikNull: number,
  iterations: number,
): CoxFit {
  const p = names.length;
  const inverse = choleskyInverse(factor(sums.information, p, names), p);
  const q = normalQuantile(0.975);
  const coefficients = names.map((name, j) => {
    const se = Math.sqrt(inverse[j * p + j]);
    const z = beta[j] / se;
    return {
      name,
      estimate: beta[j],
      se,
      hazard_ratio: Math.exp(beta[j]),
      hr_low: Math.exp(beta[j] - q * se),
      hr_high: Math.exp(beta[j] + q * se),
      z,
      p: 2 * normalSf(Math.abs(z)),
    };
  });
  return {
    coefficients,
    loglik: sums.loglik,
    loglik_null: loglikNull,
    lr_test: 2 * (sums.loglik - loglikNull),
    lr_p: chiSquareSf(2 * (sums.loglik - loglikNull), p),
    iterations,
    n: sums.n,
    events: sums.events,
  };
}

/** Harrell's C from pooled pair counts (ties in risk count one half, as R's concordance). */
export function concordanceIndex(pairs: { concordant: number; discordant: number; tiedRisk: number }): number {
  const comparable = pairs.concordant + pairs.discordant + pairs.tiedRisk;
  return comparable > 0 ? (pairs.concordant + pairs.tiedRisk / 2) / comparable : Number.NaN;
}
