import type { Factor } from "../../wire/index.js";
import { numberCell, type TableRows } from "./table-rows.js";

/** Which covariates make the model's columns: numbers as they are, factors treatment-coded. */
export interface DesignSpec {
  intercept: boolean;
  x: string[];
  factors: Factor[];
  /** Further columns every kept row must have (outcome, time, event, strata). */
  required: string[];
}

export interface Design {
  /** Parameters (columns of x). */
  p: number;
  /** Rows kept. */
  n: number;
  /** n × p, row-major. */
  x: Float64Array;
  /** Index in `rows.cells` of each kept row. */
  kept: number[];
  /** Rows left out: a missing cell, or a factor level held by fewer than minCount rows on this node. */
  excluded: number;
}

/**
 * The design matrix of the kept rows. A factor's column contributes one indicator per level after the
 * first (the reference). A row is kept only when every cell it needs is present and each factor's level
 * is one the researcher listed AND one this node would publish (min_count rows or more here): so no
 * coefficient ever rests on a category the node keeps to itself (README "Clinical statistics").
 */
export function designMatrix(rows: TableRows, spec: DesignSpec, minCount: number, where: string): Design {
  const at = (name: string) => rows.columns.indexOf(name);
  const factorLevels = spec.factors.map((f) => {
    const index = at(f.column);
    const held = new Map<string, number>();
    for (const row of rows.cells) {
      const cell = row[index];
      if (cell !== undefined) held.set(cell, (held.get(cell) ?? 0) + 1);
    }
    const usable = new Set(f.levels.filter((k) => (held.get(k) ?? 0) >= minCount));
    return { index, levels: f.levels, usable };
  });
  const numeric = spec.x.map(at);
  const required = spec.required.map(at);
  const p = (spec.intercept ? 1 : 0) + numeric.length + factorLevels.reduce((s, f) => s + f.levels.length - 1, 0);
  const kept: number[] = [];
  const values: number[] = [];
  rows.cells.forEach((row, r) => {
    if (required.some((i) => row[i] === undefined) || numeric.some((i) => row[i] === undefined)) return;
    if (factorLevels.some((f) => row[f.index] === undefined || !f.usable.has(row[f.index]!))) return;
    kept.push(r);
    if (spec.intercept) values.push(1);
    numeric.forEach((i, k) => {
      values.push(numberCell(row[i]!, spec.x[k], where));
    });
    for (const f of factorLevels) {
      const level = row[f.index]!;
      for (let k = 1; k < f.levels.length; k++) values.push(level === f.levels[k] ? 1 : 0);
    }
  });
  return { p, n: kept.length, x: Float64Array.from(values), kept, excluded: rows.cells.length - kept.length };
}

/** The names of a design's columns, as the researcher prints them: `(Intercept)`, `age`, `stage=II`. */
export function designNames(spec: Pick<DesignSpec, "intercept" | "x" | "factors">): string[] {
  return [
    ...(spec.intercept ? ["(Intercept)"] : []),
    ...spec.x,
    ...spec.factors.flatMap((f) => f.levels.slice(1).map((k) => `${f.column}=${k}`)),
  ];
}

/**
 * Why a numeric covariate would single out fewer than minCount patients, or undefined: a two-valued
 * covariate must hold each value in minCount rows, any other must differ from its most common value in
 * minCount rows (DataSHIELD's check on glm covariates, nfilter.tab). Otherwise an entry of XᵀWX or XᵀWz
 * is the sum over those few rows, e.g. one patient's outcome. Factor indicators pass by construction.
 */
export function thinCovariate(
  design: Design,
  spec: Pick<DesignSpec, "intercept" | "x">,
  minCount: number,
): string | undefined {
  const first = spec.intercept ? 1 : 0;
  for (let k = 0; k < spec.x.length; k++) {
    const j = first + k;
    const held = new Map<number, number>();
    for (let r = 0; r < design.n; r++) {
      const v = design.x[r * design.p + j];
      held.set(v, (held.get(v) ?? 0) + 1);
    }
    const counts = [...held.entries()].sort((a, b) => b[1] - a[1]);
    if (counts.length === 2 && counts[1][1] < minCount)
      return `Covariate "${spec.x[k]}" takes the value ${counts[1][0]} in ${counts[1][1]} usable row(s) on this node, fewer than its min_count ${minCount}`;
    const differ = design.n - (counts[0]?.[1] ?? 0);
    if (counts.length > 2 && differ < minCount)
      return `Covariate "${spec.x[k]}" differs from its most common value ${counts[0][0]} in ${differ} usable row(s) on this node, fewer than its min_count ${minCount}`;
  }
  return undefined;
}
