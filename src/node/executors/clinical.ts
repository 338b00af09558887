import { InputError } from "../../common/errors.js";
import type {
  ClinicalQuery,
  ClinicalReplyBody,
  ClinicalResult,
  ClinicalTaskBody,
  ReplyBody,
} from "../../wire/index.js";
import { coxConcordance, coxSums } from "../clinical/cox-sums.js";
import { type Design, type DesignSpec, designMatrix, thinCovariate } from "../clinical/design-matrix.js";
import { gateCount } from "../clinical/disclosure-gate.js";
import { glmSums } from "../clinical/glm-sums.js";
import { intervalCounts, nextCut, survivalRows } from "../clinical/survival-counts.js";
import { tableCounts } from "../clinical/table-counts.js";
import { numberCell, readTableRows } from "../clinical/table-rows.js";
import type { NodeRuntime } from "./runtime.js";

/** Steps of one kind one analysis (query id) may ask this node: IRLS and Newton need tens; the researcher's cap is 25. */
export const MAX_CLINICAL_ITERATIONS = 60;
/** Interval ends one survival analysis may ask (one per interval of its table). */
export const MAX_SURVIVAL_INTERVALS = 200;
/** A model may have at most one parameter per this many rows on the node (DataSHIELD's nfilter.glm is 0.33). */
export const ROWS_PER_PARAMETER = 3;
/** Query ids remembered for the iteration cap (the oldest are forgotten first). */
const REMEMBERED_QUERIES = 10_000;

type Refusal = Extract<ReplyBody, { kind: "error" }>;

/**
 * The executor of clinical statistics tasks (`fbm-researcher analyze`). Each answer passes the node's
 * gate: min_count on every count and on the rows, events and outcome classes a model rests on; at most
 * one parameter per ROWS_PER_PARAMETER rows; MAX_CLINICAL_ITERATIONS tasks per analysis. Each query is logged.
 */
export function createClinicalExecutor(): (
  runtime: NodeRuntime,
  task: ClinicalTaskBody,
  experiment?: string,
) => Promise<ReplyBody> {
  const asked = new Map<string, number>();
  return async (runtime, task, experiment) => {
    const entry = runtime.catalogue.getDataset(task.datasetId);
    if (!entry) throw new InputError(`No dataset ${task.datasetId} on this node (was it removed?)`);
    const q = task.query;
    const what = `Clinical ${q.kind} query ${task.queryId} for "${experiment || "?"}" on "${entry.name}"`;
    const key = `${task.queryId}\u0000${q.kind}`;
    const count = (asked.get(key) ?? 0) + 1;
    asked.delete(key);
    asked.set(key, count);
    if (asked.size > REMEMBERED_QUERIES) asked.delete(asked.keys().next().value!);
    const [cap, rule] =
      q.kind === "km_cuts"
        ? [MAX_SURVIVAL_INTERVALS, "MAX_SURVIVAL_INTERVALS): give km a larger grid"]
        : [MAX_CLINICAL_ITERATIONS, "MAX_CLINICAL_ITERATIONS): lower max_iterations"];
    if (count > cap) {
      runtime.log(`${what}: refused, over ${cap} ${q.kind} steps`);
      return {
        kind: "error",
        code: "iteration_cap",
        message: `Analysis ${task.queryId} asked for more than ${cap} ${q.kind} steps, the node's fixed cap (${rule}`,
      };
    }
    const minCount = runtime.analytics.minCount;
    const where = `dataset "${entry.name}"`;
    const rows = await readTableRows(entry, columnsOf(q));
    const answer = answerQuery(q, rows, minCount, where);
    if ("code" in answer) {
      runtime.log(`${what}: refused (${answer.code}): ${answer.message}`);
      return answer;
    }
    runtime.log(
      `${what}: ${answer.rows} rows, ${typeof answer.excluded === "number" ? answer.excluded : "some"} left out`,
    );
    return answer;
  };
}

function columnsOf(q: ClinicalQuery): string[] {
  switch (q.kind) {
    case "table":
      return q.cols ? [q.rows, q.cols] : [q.rows];
    case "glm":
      return unique([q.y, ...q.x, ...q.factors.map((f) => f.column)]);
    case "km_cuts":
    case "km_counts":
      return unique(q.group ? [q.time, q.event, q.group] : [q.time, q.event]);
    case "cox":
      return unique([q.time, q.event, ...q.x, ...q.factors.map((f) => f.column), ...(q.strata ? [q.strata] : [])]);
  }
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

function answerQuery(
  q: ClinicalQuery,
  data: Awaited<ReturnType<typeof readTableRows>>,
  minCount: number,
  where: string,
): ClinicalReplyBody | Refusal {
  const reply = (rows: number, excluded: number, result: ClinicalResult): ClinicalReplyBody | Refusal =>
    rows < minCount
      ? refuse("below_min_count", `${rows} usable row(s) on this node, fewer than its min_count ${minCount}`)
      : { kind: "clinical", minCount, rows, excluded: gateCount(excluded, minCount), result };
  switch (q.kind) {
    case "table": {
      const t = tableCounts(data, q.rows, q.cols, minCount);
      return reply(t.rows, t.excluded, {
        kind: "table",
        rowLevels: t.rowLevels,
        colLevels: t.colLevels,
        cells: t.cells,
      });
    }
    case "km_cuts":
    case "km_counts": {
      const s = survivalRows(data, q, minCount, where);
      if (q.kind === "km_cuts") {
        const next = nextCut(s, minCount, q.cuts[0] ?? 0);
        return reply(s.rows, s.excluded, { kind: "km_cuts", cuts: next === undefined ? [] : [next] });
      }
      const counts = intervalCounts(s, q.cuts, minCount);
      if ("refused" in counts) return refuse("below_min_count", `Refused: ${counts.refused}`);
      return reply(s.rows, s.excluded, { kind: "km_counts", groups: s.groups, ...counts });
    }
    case "glm": {
      if (!["binomial", "gaussian", "poisson"].includes(q.family))
        throw new InputError(`Unknown glm family "${q.family}": use binomial, gaussian or poisson`);
      const spec: DesignSpec = { intercept: true, x: q.x, factors: q.factors, required: [q.y] };
      const design = designMatrix(data, spec, minCount, where);
      const yAt = data.columns.indexOf(q.y);
      const y = Float64Array.from(design.kept, (r) => numberCell(data.cells[r][yAt]!, q.y, where));
      checkOutcome(q.family, q.y, y, where);
      const refusal = modelRefusal(design.p, design.n, minCount) ?? thinRefusal(design, spec, minCount);
      if (refusal) return refusal;
      if (q.family === "binomial") {
        const cases = y.reduce((s, v) => s + v, 0);
        if (Math.min(cases, y.length - cases) < minCount)
          return refuse(
            "below_min_count",
            `The outcome "${q.y}" has fewer than min_count ${minCount} rows of one class on this node`,
          );
      }
      checkBeta(q.beta, design.p);
      const sums = glmSums(q.family, design.x, y, design.p, q.beta);
      return reply(design.n, design.excluded, {
        kind: "glm",
        xtwx: [...sums.xtwx],
        xtwz: [...sums.xtwz],
        deviance: sums.deviance,
        loglik: sums.loglik,
      });
    }
    case "cox": {
      if (q.ties !== "efron" && q.ties !== "breslow")
        throw new InputError(`Unknown ties method "${q.ties}": use efron or breslow`);
      const spec: DesignSpec = {
        intercept: false,
        x: q.x,
        factors: q.factors,
        required: [q.time, q.event, ...(q.strata ? [q.strata] : [])],
      };
      const design = designMatrix(data, spec, minCount, where);
      const [ti, ei, si] = [q.time, q.event, q.strata].map((c) => data.columns.indexOf(c));
      const time = new Float64Array(design.n);
      const event = new Uint8Array(design.n);
      const stratum = new Int32Array(design.n);
      const strata = new Map<string, number>();
      design.kept.forEach((r, k) => {
        const row = data.cells[r];
        time[k] = numberCell(row[ti]!, q.time, where);
        if (time[k] < 0)
          throw new InputError(
            `Column "${q.time}" holds a negative time "${row[ti]}" in ${where}: times must be 0 or more`,
          );
        const e = numberCell(row[ei]!, q.event, where);
        if (e !== 0 && e !== 1)
          throw new InputError(
            `Column "${q.event}" holds "${row[ei]}" in ${where}: an event column holds 1 (event) or 0 (censored)`,
          );
        event[k] = e;
        const s = si >= 0 ? row[si]! : "";
        if (!strata.has(s)) strata.set(s, strata.size);
        stratum[k] = strata.get(s)!;
      });
      const refusal = modelRefusal(design.p, design.n, minCount) ?? thinRefusal(design, spec, minCount);
      if (refusal) return refusal;
      const events = event.reduce((s, e) => s + e, 0);
      if (events < minCount)
        return refuse("below_min_count", `${events} event(s) on this node, fewer than its min_count ${minCount}`);
      checkBeta(q.beta, design.p);
      const sums = coxSums(design.x, design.p, time, event, stratum, q.ties, q.beta);
      const pairs = q.concordance
        ? coxConcordance(design.x, design.p, time, event, stratum, q.beta)
        : { concordant: 0, discordant: 0, tiedRisk: 0 };
      return reply(design.n, design.excluded, {
        kind: "cox",
        loglik: sums.loglik,
        gradient: [...sums.gradient],
        information: [...sums.information],
        events: sums.events,
        ...pairs,
      });
    }
  }
}

function refuse(code: Refusal["code"], message: string): Refusal {
  return { kind: "error", code, message };
}

/** The node's parameter rule: p ≤ n / ROWS_PER_PARAMETER, and min_count rows. */
function modelRefusal(p: number, n: number, minCount: number): Refusal | undefined {
  if (n < minCount)
    return refuse("below_min_count", `${n} usable row(s) on this node, fewer than its min_count ${minCount}`);
  if (p * ROWS_PER_PARAMETER > n)
    return refuse(
      "too_many_parameters",
      `The model has ${p} parameters for ${n} usable rows on this node; the node allows one parameter per ${ROWS_PER_PARAMETER} rows ` +
        "(its fixed rule ROWS_PER_PARAMETER, after DataSHIELD's nfilter.glm): use fewer covariates or categories",
    );
  return undefined;
}

function thinRefusal(design: Design, spec: DesignSpec, minCount: number): Refusal | undefined {
  const thin = thinCovariate(design, spec, minCount);
  return thin ? refuse("below_min_count", thin) : undefined;
}

function checkBeta(beta: number[], p: number): void {
  if (beta.length !== p || beta.some((b) => !Number.isFinite(b)))
    throw new InputError(
      `The step carries ${beta.length} coefficient(s) for a model of ${p} parameters (or one not finite)`,
    );
}

function checkOutcome(family: string, column: string, y: Float64Array, where: string): void {
  const bad =
    family === "binomial"
      ? y.find((v) => v !== 0 && v !== 1)
      : family === "poisson"
        ? y.find((v) => v < 0 || !Number.isInteger(v))
        : undefined;
  if (bad === undefined) return;
  const rule = family === "binomial" ? "0 or 1" : "a count (a whole number, 0 or more)";
  throw new InputError(`Column "${column}" holds ${bad} in ${where}: the outcome of a ${family} glm must be ${rule}`);
}
