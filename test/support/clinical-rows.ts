import { createRng } from "../../src/ml/rng.js";

/** The columns of clinicalRows, in order. */
export const CLINICAL_COLUMNS = ["age", "sex", "stage", "arm", "sbp", "death", "visits", "days", "event"] as const;

/**
 * A deterministic clinical table for one site: age, sex (0/1), stage (I/II/III), arm (A/B), systolic
 * pressure (gaussian), death (binomial), visits (poisson), and survival days (whole days: ties) with an
 * event flag (administrative censoring). The reference values in the clinical tests were computed by R
 * on exactly these rows (see each test's comment); change nothing here without recomputing them.
 */
export function clinicalRows(rows: number, seed: number): (number | string)[][] {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const poisson = (mean: number) => {
    let k = 0;
    let p = Math.exp(-mean);
    let s = p;
    const u = rng.next();
    while (u > s && k < 1000) {
      k++;
      p *= mean / k;
      s += p;
    }
    return k;
  };
  return Array.from({ length: rows }, () => {
    const age = Number((40 + 35 * rng.next()).toFixed(1));
    const sex = rng.next() < 0.5 ? 1 : 0;
    const u = rng.next();
    const stage = u < 0.4 ? "I" : u < 0.75 ? "II" : "III";
    const s = stage === "I" ? 0 : stage === "II" ? 1 : 2;
    const arm = rng.next() < 0.5 ? "A" : "B";
    const sbp = Number((100 + 0.5 * age + 4 * sex + 3 * s + 9 * gauss()).toFixed(2));
    const logit = -4 + 0.05 * age + 0.4 * sex + 0.6 * s;
    const death = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    const visits = poisson(Math.exp(0.3 + 0.015 * age + 0.25 * s));
    const hazard = Math.exp(-7.6 + 0.02 * age + 0.5 * s + (arm === "B" ? -0.5 : 0));
    const survival = -Math.log(1 - rng.next()) / hazard;
    const censor = 200 + 1200 * rng.next();
    const days = Math.max(1, Math.ceil(Math.min(survival, censor) / 7) * 7);
    const event = survival <= censor ? 1 : 0;
    return [age, sex, stage, arm, sbp, death, visits, days, event];
  });
}

/** The rows as csv text with a header. */
export function clinicalCsv(rows: (number | string)[][]): string {
  return `${[CLINICAL_COLUMNS.join(","), ...rows.map((r) => r.join(","))].join("\n")}\n`;
}
