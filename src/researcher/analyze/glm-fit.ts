import { InputError, RuntimeFailure } from "../../common/errors.js";
import { normalQuantile, normalSf, tQuantile, tTwoSided } from "../../ml/stats/distributions.js";
import type { GlmFamily } from "../../wire/index.js";
import { cholesky, choleskyInverse, choleskySolve, SingularMatrixError } from "./linear-algebra.js";

/** The pooled sums of one IRLS iteration: every node's XᵀWX, XᵀWz, deviance and log-likelihood added up. */
export interface PooledGlmSums {
  xtwx: ArrayLike<number>;
  xtwz: ArrayLike<number>;
  deviance: number;
  loglik: number;
  /** Rows behind the sums. */
  n: number;
}

/** A coefficient as a clinician reads it. */
export interface Coefficient {
  name: string;
  estimate: number;
  se: number;
  /** z (binomial, poisson) or t (gaussian) statistic. */
  statistic: number;
  p: number;
  ci_low: number;
  ci_high: number;
}

export interface GlmFit {
  family: GlmFamily;
  coefficients: Coefficient[];
  deviance: number;
  /** Residual degrees of freedom, n − p. */
  df_residual: number;
  /** 1 for binomial and poisson; RSS / (n − p) for gaussian. */
  dispersion: number;
  aic: number;
  iterations: number;
  n: number;
  /** "z" or "t": what `statistic` is and which distribution gives p and the 95 % interval. */
  test: "z" | "t";
}

export interface GlmFitOptions {
  family: GlmFamily;
  /** Parameter names, intercept first, as the nodes order the columns. */
  names: string[];
  /** The pooled sums at β (the nodes' answers to one iteration, added up). */
  evaluate: (beta: Float64Array) => Promise<PooledGlmSums>;
  /** Default 25 (R's glm.control maxit). */
  maxIterations?: number;
  /** Convergence: |dev − dev_old| / (|dev| + 0.1) below this (R's rule; default 1e-10, tighter than R's 1e-8). */
  tolerance?: number;
}

/**
 * Fits a GLM by federated IRLS (Fisher scoring, McCullagh & Nelder §2.5; DataSHIELD ds.glm): from β = 0,
 * each iteration asks the nodes for their sums at β and solves (XᵀWX) β' = XᵀWz on the pooled sums. The
 * result is the pooled fit: standard errors from (XᵀWX)⁻¹ at the final β (× the dispersion for gaussian),
 * Wald z (t for gaussian, as R's summary.glm) tests and 95 % intervals.
 */
export async function fitGlm(options: GlmFitOptions): Promise<GlmFit> {
  const { family, names } = options;
  const p = names.length;
  const maxIterations = options.maxIterations ?? 25;
  const tolerance = options.tolerance ?? 1e-10;
  let beta: Float64Array = new Float64Array(p);
  let sums = await options.evaluate(beta);
  if (sums.n <= p)
    throw new InputError(`Cannot fit the ${family} glm: ${sums.n} row(s) for ${p} parameters: use fewer covariates`);
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const step = solve(sums.xtwx, sums.xtwz, p, names);
    let next = await options.evaluate(step);
    let candidate = step;
    // Step halving while the deviance is not finite (R's glm.fit does the same).
    for (let halving = 0; !Number.isFinite(next.deviance) && halving < 10; halving++) {
      candidate = candidate.map((b, j) => (b + beta[j]) / 2);
      next = await options.evaluate(candidate);
    }
    const change = Math.abs(next.deviance - sums.deviance) / (Math.abs(next.deviance) + 0.1);
    beta = candidate;
    sums = next;
    if (family === "binomial" && sums.deviance < 1e-8 * sums.n)
      throw new InputError(
        `Cannot fit the binomial glm: the outcome is perfectly separated by the covariates (deviance ${sums.deviance.toExponential(2)}): ` +
          "remove the covariate that predicts it exactly",
      );
    if (change < tolerance) return summarize(family, names, beta, sums, iteration);
  }
  const largest = beta.reduce((best, b, j) => (Math.abs(b) > Math.abs(beta[best]) ? j : best), 0);
  throw new RuntimeFailure(
    `The ${family} glm did not converge in ${maxIterations} iterations (largest coefficient "${names[largest]}" = ${beta[largest].toPrecision(4)}` +
      `${family === "binomial" ? "; a coefficient growing without bound means the outcome is (quasi-)separated" : ""}): ` +
      "give max_iterations more, or simplify the model",
  );
}

function solve(xtwx: ArrayLike<number>, xtwz: ArrayLike<number>, p: number, names: string[]): Float64Array {
  return choleskySolve(factor(xtwx, p, names), p, xtwz);
}

/** The Cholesky factor of XᵀWX, or an InputError naming the first collinear parameter. */
function factor(xtwx: ArrayLike<number>, p: number, names: string[]): Float64Array {
  try {
    return cholesky(Float64Array.from(xtwx), p);
  } catch (error) {
    if (!(error instanceof SingularMatrixError)) throw error;
    throw new InputError(
      `Cannot fit the glm: XᵀWX is singular at "${names[error.column]}": it is constant, or a combination of the columns before it, ` +
        "over the rows the nodes use: remove it (a category with no rows, or a covariate constant everywhere)",
    );
  }
}

function summarize(
  family: GlmFamily,
  names: string[],
  beta: Float64Array,
  sums: PooledGlmSums,
  iterations: number,
): GlmFit {
  const p = names.length;
  const n = sums.n;
  const df = n - p;
  const inverse = choleskyInverse(factor(sums.xtwx, p, names), p);
  const gaussian = family === "gaussian";
  const dispersion = gaussian ? sums.deviance / df : 1;
  const quantile = gaussian ? tQuantile(0.975, df) : normalQuantile(0.975);
  const coefficients = names.map((name, j) => {
    const se = Math.sqrt(dispersion * inverse[j * p + j]);
    const statistic = beta[j] / se;
    return {
      name,
      estimate: beta[j],
      se,
      statistic,
      p: gaussian ? tTwoSided(statistic, df) : 2 * normalSf(Math.abs(statistic)),
      ci_low: beta[j] - quantile * se,
      ci_high: beta[j] + quantile * se,
    };
  });
  // AIC as R's family$aic + 2p: gaussian's likelihood uses the ML variance RSS/n and counts it as a parameter.
  const aic = gaussian ? n * (Math.log((2 * Math.PI * sums.deviance) / n) + 1) + 2 + 2 * p : -2 * sums.loglik + 2 * p;
  return {
    family,
    coefficients,
    deviance: sums.deviance,
    df_residual: df,
    dispersion,
    aic,
    iterations,
    n,
    test: gaussian ? "t" : "z",
  };
}
