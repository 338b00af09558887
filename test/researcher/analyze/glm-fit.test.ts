import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuntimeFailure } from "../../../src/common/errors.js";
import { designMatrix, designNames } from "../../../src/node/clinical/design-matrix.js";
import { glmSums } from "../../../src/node/clinical/glm-sums.js";
import { fitGlm, type GlmFit } from "../../../src/researcher/analyze/glm-fit.js";
import type { GlmFamily } from "../../../src/wire/index.js";
import { clinicalSites } from "../../support/clinical-sites.js";

/**
 * References: R 4.2 on the three sites stacked (test/support/clinical-sites.ts), stage a factor with
 * levels I, II, III:
 *   glm(death ~ age + sex + stage, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
 *   glm(sbp ~ age + sex + stage, family = gaussian);   confint(lm(sbp ~ age + sex + stage))
 *   glm(visits ~ age + sex + stage, family = poisson, control = glm.control(epsilon = 1e-14, maxit = 100))
 * printed with summary(fit)$coefficients, deviance(fit), AIC(fit) and confint.default(fit) (binomial,
 * poisson) at 15 digits.
 */
const R = {
  binomial: {
    estimate: [-4.4768674229419103, 0.0525762620783227, 0.8882546462752419, 0.543999817351024, 1.3340295068499775],
    se: [0.7587509099750452, 0.0117872089182146, 0.2369281472662793, 0.277440635382959, 0.2967775983639704],
    statistic: [-5.90031242676091, 4.4604505140379, 3.74904652116723, 1.96077916488378, 4.49504785470335],
    p: [3.6281388277165e-9, 8.17875429434949e-6, 1.77508158844442e-4, 4.99047895466359e-2, 6.95543029948227e-6],
    ciLow: [-5.963991879729992, 0.029473757120372653, 0.4238840107095324, 0.000226164152515418, 0.7523561026383022],
    ciHigh: [-2.9897429661538291, 0.0756787670362727, 1.3526252818409512, 1.0877734705495326, 1.9157029110616528],
    deviance: 429.165401649161,
    aic: 439.165401649161,
  },
  gaussian: {
    estimate: [98.267013428046397, 0.518200856434733, 5.036914386618235, 2.574564466810676, 5.150258238662897],
    se: [2.8554176857122542, 0.0470046716390559, 0.9610797660553473, 1.123186285103438, 1.2084721770305655],
    statistic: [34.41423435868883, 11.02445434389894, 5.24089109407821, 2.2921972080291, 4.26179297840188],
    p: [3.95146528583518e-115, 1.67052067295524e-24, 2.748000426087e-7, 2.247887043135e-2, 2.60170047453948e-5],
    ciLow: [92.651352291097865, 0.425758230930496, 3.146788707720106, 0.365628939665322, 2.773593600914343],
    ciHigh: [103.88267456499493, 0.61064348193897, 6.92704006551636, 4.78349999395603, 7.52692287641145],
    deviance: 29367.6893912289,
    aic: 2618.19241811183,
  },
  poisson: {
    estimate: [0.6168309200969581, 0.0114666566742081, -0.0566972310215387, 0.1321519290530348, 0.3753577532594575],
    se: [0.15923399633196059, 0.00256339548396042, 0.05221018365383756, 0.06401307519153948, 0.06413860314326487],
    statistic: [3.87373886422488, 4.47322964636429, -1.08594199548217, 2.06445212415761, 5.85229074011839],
    p: [1.07178255883008e-4, 7.70469539917416e-6, 2.77504655573382e-1, 3.89748687351466e-2, 4.8484808887111e-9],
    ciLow: [0.3047380221719323, 0.00644249384751303, -0.15902731060928216, 0.00668860713796299, 0.24964840107995084],
    ciHigh: [0.9289238180219839, 0.0164908195009031, 0.0456328485662047, 0.2576152509681066, 0.5010671054389642],
    deviance: 389.519814078843,
    aic: 1519.28616699745,
  },
};

const outcome: Record<GlmFamily, string> = { binomial: "death", gaussian: "sbp", poisson: "visits" };

/** The federated fit: each site's sums from the node's own code, added up, solved by the researcher's. */
async function federatedFit(family: GlmFamily, minCount = 5): Promise<GlmFit> {
  const spec = { intercept: true, x: ["age", "sex"], factors: [{ column: "stage", levels: ["I", "II", "III"] }] };
  const sites = clinicalSites().map((rows) => {
    const design = designMatrix(rows, { ...spec, required: [outcome[family]] }, minCount, "site");
    const at = rows.columns.indexOf(outcome[family]);
    return { design, y: Float64Array.from(design.kept, (r) => Number(rows.cells[r][at])) };
  });
  return fitGlm({
    family,
    names: designNames(spec),
    evaluate: async (beta) => {
      const parts = sites.map((s) => glmSums(family, s.design.x, s.y, s.design.p, beta));
      const p = beta.length;
      return {
        xtwx: Array.from({ length: p * p }, (_, i) => parts.reduce((t, s) => t + s.xtwx[i], 0)),
        xtwz: Array.from({ length: p }, (_, i) => parts.reduce((t, s) => t + s.xtwz[i], 0)),
        deviance: parts.reduce((t, s) => t + s.deviance, 0),
        loglik: parts.reduce((t, s) => t + s.loglik, 0),
        n: sites.reduce((t, s) => t + s.design.n, 0),
      };
    },
  });
}

function close(actual: number, expected: number, what: string, tolerance = 1e-6): void {
  const scale = Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance * scale, `${what}: ${actual} vs R ${expected}`);
}

describe("federated GLM by IRLS", () => {
  for (const family of ["binomial", "gaussian", "poisson"] as const) {
    it(`equals R's pooled ${family} glm with a categorical covariate to 1e-6`, async () => {
      const fit = await federatedFit(family);
      const ref = R[family];
      assert.deepEqual(
        fit.coefficients.map((c) => c.name),
        ["(Intercept)", "age", "sex", "stage=II", "stage=III"],
      );
      assert.equal(fit.n, 360);
      fit.coefficients.forEach((c, j) => {
        close(c.estimate, ref.estimate[j], `${c.name} estimate`);
        close(c.se, ref.se[j], `${c.name} se`);
        close(c.statistic, ref.statistic[j], `${c.name} statistic`);
        // p-values are compared relatively: they span 1e-115 to 0.3.
        assert.ok(Math.abs(c.p - ref.p[j]) <= 1e-6 * ref.p[j], `${c.name} p: ${c.p} vs R ${ref.p[j]}`);
        close(c.ci_low, ref.ciLow[j], `${c.name} ci_low`);
        close(c.ci_high, ref.ciHigh[j], `${c.name} ci_high`);
      });
      close(fit.deviance, ref.deviance, "deviance");
      close(fit.aic, ref.aic, "AIC");
      assert.equal(fit.test, family === "gaussian" ? "t" : "z");
      assert.ok(fit.iterations >= 1 && fit.iterations <= 25);
    });
  }

  it("leaves out rows of a category a site holds fewer than min_count times, and says how many", () => {
    const [site] = clinicalSites();
    const spec = { intercept: true, x: [], factors: [{ column: "stage", levels: ["I", "II", "III"] }], required: [] };
    const held = (k: string) => site.cells.filter((r) => r[2] === k).length;
    const rare = ["I", "II", "III"].reduce((a, b) => (held(a) < held(b) ? a : b));
    const design = designMatrix(site, spec, held(rare) + 1, "site");
    assert.equal(design.excluded, held(rare));
    assert.ok(design.kept.every((r) => site.cells[r][2] !== rare));
  });

  it("stops with the collinear column named when XᵀWX is singular", async () => {
    const names = ["(Intercept)", "a", "twice a"];
    await assert.rejects(
      fitGlm({
        family: "gaussian",
        names,
        evaluate: async (beta) => {
          const rows = [1, 2, 3, 4, 5].map((a) => [1, a, 2 * a]);
          const x = Float64Array.from(rows.flat());
          return { ...glmSums("gaussian", x, Float64Array.from([1, 3, 2, 5, 4]), 3, beta), n: 5 };
        },
      }),
      /XᵀWX is singular at "twice a"/,
    );
  });

  it("says the outcome is separated when a covariate predicts it exactly", async () => {
    const a = [1, 2, 3, 4, 5, 6, 7, 8];
    const x = Float64Array.from(a.flatMap((v) => [1, v]));
    const y = Float64Array.from(a.map((v) => (v > 4 ? 1 : 0)));
    await assert.rejects(
      fitGlm({
        family: "binomial",
        names: ["(Intercept)", "a"],
        evaluate: async (beta) => ({ ...glmSums("binomial", x, y, 2, beta), n: 8 }),
      }),
      /the outcome is perfectly separated by the covariates/,
    );
  });

  it("reports non-convergence after the iteration cap as a runtime failure", async () => {
    const x = Float64Array.from([1, 1, 1]);
    const y = Float64Array.from([0, 1, 1]);
    await assert.rejects(
      fitGlm({
        family: "binomial",
        names: ["(Intercept)"],
        maxIterations: 1,
        tolerance: 0,
        evaluate: async (beta) => ({ ...glmSums("binomial", x, y, 1, beta), n: 3 }),
      }),
      (error: Error) => error instanceof RuntimeFailure && /did not converge in 1 iterations/.test(error.message),
    );
  });
});
