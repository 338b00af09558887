import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { coxConcordance, coxSums } from "../../../src/node/clinical/cox-sums.js";
import { designMatrix, designNames } from "../../../src/node/clinical/design-matrix.js";
import { type CoxFit, concordanceIndex, fitCox } from "../../../src/researcher/analyze/cox-fit.js";
import type { CoxTies } from "../../../src/wire/index.js";
import { clinicalSites } from "../../support/clinical-sites.js";

/**
 * References: R 4.2, survival 3.4, on the three sites stacked with a `site` column (test/support/clinical-sites.ts):
 *   coxph(Surv(days, event) ~ age + sex + stage + strata(site, arm), ties = TIES,
 *         control = coxph.control(eps = 1e-14, iter.max = 100))      # TIES efron, then breslow
 *   coxph(Surv(days, event) ~ age + sex + stage + strata(site), ties = "efron", ...)
 * printed with summary(fit)$coefficients, fit$loglik and exp(confint(fit)) at 15 digits. Days are whole
 * weeks, so event times are heavily tied. For the efron + strata(site, arm) fit also fit$concordance
 * (concordant 5678, discordant 3543, tied.x 4, concordance 0.615718157181572) and summary(fit)$logtest
 * (40.851127517743 on 4 df, p 2.88551029312353e-8).
 */
const R = {
  "efron+arm": {
    coef: [0.0185653179765002, 0.1854577898339483, 0.4712593951654304, 0.8724488770698655],
    se: [0.00618223757458024, 0.12739199869311577, 0.15231093896721723, 0.15852680026223509],
    p: [2.67324113672795e-3, 1.45446791097851e-1, 1.97436629643609e-3, 3.72369424557424e-8],
    hrLow: [1.00646919038808, 0.93779309106859, 1.18855162067113, 1.75372493126464],
    hrHigh: [1.03115783336554, 1.54518171634535, 2.15929839109323, 3.26466024036015],
    loglik: [-900.253315037994, -879.827751279123],
  },
  "breslow+arm": {
    coef: [0.0184533190239399, 0.1862184513263233, 0.4690389657640844, 0.8654320577974755],
    se: [0.00618106587086444, 0.12741400798054142, 0.15227384404865649, 0.15852230829876007],
    p: [2.83153049788432e-3, 1.43872079945404e-1, 2.06838503328377e-3, 4.77824956308015e-8],
    hrLow: [1.006358784302554, 0.938466221659904, 1.186001678269126, 1.741477764603482],
    hrHigh: [1.03103998345231, 1.54642423101304, 2.15435250326749, 3.24180434956897],
    loglik: [-901.703422971925, -881.556102410131],
  },
  efron: {
    coef: [0.0168563394135198, 0.1448899858730852, 0.4633927431625789, 0.8653650793556353],
    se: [0.00612038429022751, 0.12442714414996862, 0.15115226182104752, 0.15737097671892319],
    p: [5.88482284411065e-3, 2.44239097629876e-1, 2.17135842825861e-3, 3.82197860165466e-8],
    loglik: [-1082.41893582869, -1063.20111249736],
  },
};

/** The federated fit: each site's sums from the node's code (its strata: the arm column, or none), added up. */
async function federatedCox(ties: CoxTies, strata: string): Promise<CoxFit & { concordance: number; pairs: number[] }> {
  const spec = { intercept: false, x: ["age", "sex"], factors: [{ column: "stage", levels: ["I", "II", "III"] }] };
  const sites = clinicalSites().map((rows) => {
    const design = designMatrix(rows, { ...spec, required: ["days", "event"] }, 5, "site");
    const col = (name: string) => design.kept.map((r) => rows.cells[r][rows.columns.indexOf(name)]!);
    const levels = strata ? [...new Set(col(strata))] : [];
    return {
      design,
      time: Float64Array.from(col("days"), Number),
      event: Uint8Array.from(col("event"), Number),
      stratum: Int32Array.from(strata ? col(strata).map((s) => levels.indexOf(s)) : design.kept.map(() => 0)),
    };
  });
  const fit = await fitCox({
    names: designNames(spec),
    evaluate: async (beta) => {
      const parts = sites.map((s) => coxSums(s.design.x, s.design.p, s.time, s.event, s.stratum, ties, beta));
      const p = beta.length;
      return {
        loglik: parts.reduce((t, s) => t + s.loglik, 0),
        gradient: Array.from({ length: p }, (_, i) => parts.reduce((t, s) => t + s.gradient[i], 0)),
        information: Array.from({ length: p * p }, (_, i) => parts.reduce((t, s) => t + s.information[i], 0)),
        events: parts.reduce((t, s) => t + s.events, 0),
        n: sites.reduce((t, s) => t + s.design.n, 0),
      };
    },
  });
  const beta = fit.coefficients.map((c) => c.estimate);
  const counts = sites.map((s) => coxConcordance(s.design.x, s.design.p, s.time, s.event, s.stratum, beta));
  const pairs = {
    concordant: counts.reduce((t, c) => t + c.concordant, 0),
    discordant: counts.reduce((t, c) => t + c.discordant, 0),
    tiedRisk: counts.reduce((t, c) => t + c.tiedRisk, 0),
  };
  return { ...fit, concordance: concordanceIndex(pairs), pairs: [pairs.concordant, pairs.discordant, pairs.tiedRisk] };
}

function close(actual: number, expected: number, what: string, tolerance = 1e-6): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs R ${expected}`,
  );
}

describe("federated Cox model, stratified by node", () => {
  for (const [label, ties, strata] of [
    ["efron+arm", "efron", "arm"],
    ["breslow+arm", "breslow", "arm"],
    ["efron", "efron", ""],
  ] as const) {
    it(`equals R's coxph with ${ties} ties and strata(site${strata ? `, ${strata}` : ""}) to 1e-6`, async () => {
      const fit = await federatedCox(ties, strata);
      const ref = R[label];
      assert.deepEqual(
        fit.coefficients.map((c) => c.name),
        ["age", "sex", "stage=II", "stage=III"],
      );
      fit.coefficients.forEach((c, j) => {
        close(c.estimate, ref.coef[j], `${c.name} coef`);
        close(c.hazard_ratio, Math.exp(ref.coef[j]), `${c.name} HR`);
        close(c.se, ref.se[j], `${c.name} se`);
        assert.ok(Math.abs(c.p - ref.p[j]) <= 1e-6 * ref.p[j], `${c.name} p: ${c.p} vs R ${ref.p[j]}`);
        if ("hrLow" in ref) {
          close(c.hr_low, ref.hrLow[j], `${c.name} HR low`);
          close(c.hr_high, ref.hrHigh[j], `${c.name} HR high`);
        }
      });
      close(fit.loglik_null, ref.loglik[0], "null log partial likelihood");
      close(fit.loglik, ref.loglik[1], "log partial likelihood");
      assert.equal(fit.n, 360);
      if (label === "efron+arm") {
        assert.deepEqual(fit.pairs, [5678, 3543, 4]);
        close(fit.concordance, 0.615718157181572, "concordance");
        close(fit.lr_test, 40.851127517743, "likelihood-ratio test");
        assert.ok(Math.abs(fit.lr_p - 2.88551029312353e-8) <= 1e-6 * 2.88551029312353e-8, `LR p ${fit.lr_p}`);
      }
    });
  }
});
