import { logGamma } from "../../ml/stats/distributions.js";
import type { GlmFamily } from "../../wire/index.js";

/** One node's part of an IRLS iteration (McCullagh & Nelder, Generalized Linear Models, 2nd ed., §2.5). */
export interface GlmSums {
  /** XᵀWX, p × p row-major. */
  xtwx: Float64Array;
  /** XᵀWz, z the working response η + (y − μ)·dη/dμ. */
  xtwz: Float64Array;
  deviance: number;
  /** Σ log f(yᵢ; μᵢ) (0 for gaussian: its likelihood needs the pooled dispersion, the researcher's). */
  loglik: number;
}

/**
 * XᵀWX, XᵀWz, deviance and log-likelihood of rows (x: n × p row-major, y) at β, for the canonical
 * links (logit, identity, log). With a canonical link W = Var(μ) and XᵀWz = XᵀWη + Xᵀ(y − μ), which
 * avoids dividing by a vanishing weight. The sums over nodes are the pooled sums: the researcher's
 * solve is the pooled fit's (DataSHIELD ds.glm's design).
 */
export function glmSums(
  family: GlmFamily,
  x: Float64Array,
  y: Float64Array,
  p: number,
  beta: ArrayLike<number>,
): GlmSums {
  const n = y.length;
  const xtwx = new Float64Array(p * p);
  const xtwz = new Float64Array(p);
  let deviance = 0;
  let loglik = 0;
  for (let r = 0; r < n; r++) {
    const o = r * p;
    let eta = 0;
    for (let j = 0; j < p; j++) eta += x[o + j] * beta[j];
    const yi = y[r];
    let mu: number;
    let w: number;
    if (family === "binomial") {
      mu = 1 / (1 + Math.exp(-eta));
      w = mu * (1 - mu);
      // log μ and log(1 − μ) from η directly, so a fitted 0 or 1 stays finite.
      const logMu = -softplus(-eta);
      const log1mMu = -softplus(eta);
      const ll = yi * logMu + (1 - yi) * log1mMu;
      loglik += ll;
      deviance -= 2 * ll;
    } else if (family === "poisson") {
      mu = Math.exp(eta);
      w = mu;
      loglik += yi * eta - mu - logGamma(yi + 1);
      deviance += 2 * ((yi > 0 ? yi * Math.log(yi / mu) : 0) - (yi - mu));
    } else {
      mu = eta;
      w = 1;
      deviance += (yi - mu) * (yi - mu);
    }
    const wz = w * eta + (yi - mu);
    for (let i = 0; i < p; i++) {
      const xi = x[o + i];
      if (xi === 0) continue;
      xtwz[i] += xi * wz;
      for (let j = 0; j <= i; j++) xtwx[i * p + j] += xi * w * x[o + j];
    }
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) xtwx[j * p + i] = xtwx[i * p + j];
  return { xtwx, xtwz, deviance, loglik };
}

/** log(1 + eˣ) without overflow. */
function softplus(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}
