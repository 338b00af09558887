import { randomUUID } from "node:crypto";
import { InputError, RuntimeFailure } from "../../common/errors.js";
import type { Plan } from "../../ml/plan.js";
import { featureKinds } from "../../ml/table-prep.js";
import type { ClinicalQuery, ClinicalReplyBody, Factor, ReplyBody, TaskBody } from "../../wire/index.js";
import type { Participant } from "../server/discover.js";
import { createHub } from "../server/hub.js";
import { startServer } from "../server/server.js";
import type { ResearcherTls } from "../server/server-tls.js";
import { collect } from "../stats/run-stats.js";
import {
  type Analysis,
  type AnalysisFile,
  analysisKind,
  type CoxSpec,
  type CrosstabSpec,
  type GlmSpec,
  type KmSpec,
} from "./analysis-file.js";
import type { AnalyzeResult, CoxResult, CrosstabResult, GlmResult, KmResult, NodeUse } from "./analyze-result.js";
import { concordanceIndex, fitCox } from "./cox-fit.js";
import { chiSquareTest, fisherExact } from "./crosstab-tests.js";
import { fitGlm } from "./glm-fit.js";
import { kaplanMeier, logRank } from "./kaplan-meier.js";
import { commonCuts } from "./survival-cuts.js";

const EXPERIMENT = "analyze";
const STEP_TIMEOUT_MS = 10 * 60_000;
/** The level a node names every rare level by (src/node/clinical/table-counts.ts). */
const OTHER_LEVEL = "(other)";

export interface AnalyzeOptions {
  file: AnalysisFile;
  nodes?: number;
  waitSeconds?: number;
  listen?: string;
  tls?: ResearcherTls;
  /** Cleartext: the allow-list the nodes' signing keys must be on (with TLS it is part of `tls`). */
  allowList?: string;
  /** Serve cleartext beyond loopback (`--insecure`). */
  insecure?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Called with each analysis's result as it completes. */
  onResult: (result: AnalyzeResult) => void;
}

/**
 * `fbm-researcher analyze`: serves until nodes holding datasets with the file's tags connect, then runs
 * each analysis in order over all of them (exact pooled answers need every node: a node's refusal stops
 * the analysis with its reason).
 */
export async function runAnalyze(o: AnalyzeOptions): Promise<void> {
  const waitSeconds = o.waitSeconds ?? 10;
  if (!(waitSeconds > 0)) throw new InputError(`Invalid --wait "${waitSeconds}": give a number of seconds above 0`);
  if (o.nodes !== undefined && !(Number.isInteger(o.nodes) && o.nodes >= 1))
    throw new InputError(`Invalid --nodes "${o.nodes}": give a whole number above 0`);
  const hub = createHub({ pollWindowMs: 5000, log: o.log });
  const server = await startServer({
    listen: o.listen ?? "127.0.0.1:50051",
    hub,
    tls: o.tls,
    allowList: o.allowList,
    insecure: o.insecure,
    log: o.log,
  });
  try {
    const tags = o.file.tags;
    o.log?.(
      `Listening on ${server.url}; waiting up to ${waitSeconds} s for nodes with datasets tagged [${tags.join(", ")}]`,
    );
    const participants = await collect(hub, tags, waitSeconds, o.nodes, o.signal, o.log);
    if (participants.length === 0)
      throw new RuntimeFailure(
        `No node holding a dataset tagged [${tags.join(", ")}] answered within ${waitSeconds} s: start the nodes, add datasets with these tags, or give --wait more seconds`,
      );
    o.log?.(`Analyses on ${participants.length} node(s): ${participants.map((p) => p.name).join(", ")}`);
    const send = (p: Participant, body: TaskBody) =>
      hub.send(p.node, body, { timeoutMs: STEP_TIMEOUT_MS, signal: o.signal, experiment: EXPERIMENT });
    for (const [index, analysis] of o.file.analyses.entries()) {
      o.onResult(await runAnalysis(analysis, index, participants, send, o.log));
    }
  } finally {
    hub.close();
    await server.close();
  }
}

type Send = (p: Participant, body: TaskBody) => Promise<ReplyBody>;

/** One analysis over every participant (exported for tests with an in-memory `send`). */
export async function runAnalysis(
  analysis: Analysis,
  index: number,
  participants: Participant[],
  send: Send,
  log?: (line: string) => void,
): Promise<AnalyzeResult> {
  const { kind, name } = analysisKind(analysis, index);
  const queryId = `${name}-${randomUUID().slice(0, 8)}`;
  const ask = (query: ClinicalQuery) => askAll(participants, send, queryId, query);
  log?.(`Analysis "${name}" (${kind})`);
  if (analysis.glm) return glm(name, analysis.glm, participants, ask);
  if (analysis.km) return km(name, analysis.km, ask);
  if (analysis.crosstab) return crosstab(name, analysis.crosstab, ask);
  return cox(name, analysis.cox!, participants, ask);
}

type Answer = { p: Participant; reply: ClinicalReplyBody };
type Ask = (query: ClinicalQuery) => Promise<Answer[]>;

/**
 * Every node's answer to one query, or the first refusal as an error naming the node. Waits for every
 * node before throwing, so no request is still open when the server closes.
 */
async function askAll(
  participants: Participant[],
  send: Send,
  queryId: string,
  query: ClinicalQuery,
): Promise<Answer[]> {
  const settled = await Promise.allSettled(
    participants.map(async (p) => {
      const reply = await send(p, { kind: "clinical", datasetId: p.dataset.id, queryId, query });
      if (reply.kind === "clinical") return { p, reply };
      if (reply.kind === "error") {
        const text = `Node ${p.name} refused the ${query.kind} query (${reply.code}): ${reply.message}`;
        if (reply.code === "invalid_input" || reply.code === "too_many_parameters" || reply.code === "below_min_count")
          throw new InputError(text);
        throw new RuntimeFailure(text);
      }
      throw new RuntimeFailure(`Node ${p.name} answered a clinical query with a ${reply.kind} reply`);
    }),
  );
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<Answer>).value);
}

function uses(answers: Answer[]): NodeUse[] {
  return answers.map(({ p, reply }) => ({
    name: p.name,
    dataset: p.dataset.name,
    rows: reply.rows,
    excluded: reply.excluded,
  }));
}

/**
 * The factors among `covariates` (categorical as in plan.data, checked against each node's columns like
 * a plan's features) with their levels: the union of the levels nodes name (each held by min_count rows
 * or more there), sorted; the first is the reference.
 */
async function factorsOf(
  covariates: string[],
  categorical: GlmSpec["categorical"],
  participants: Participant[],
  ask: Ask,
): Promise<{ x: string[]; factors: Factor[] }> {
  const plan = { data: { categorical } } as unknown as Pick<Plan, "data">;
  // featureKinds speaks of a plan's keys; here they are the analysis's own `categorical`.
  const kinds = participants.map((p) => {
    try {
      return featureKinds(plan, covariates, p.dataset.columns, `dataset "${p.dataset.name}" on node ${p.name}`);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      throw new InputError(
        error.message
          .replace("The plan names", "The analysis names")
          .replace(/plan\.data\.categorical/g, "categorical in the analysis"),
      );
    }
  });
  const isFactor = (c: string) => kinds.some((k) => k.find((f) => f.name === c)?.categorical);
  const factors: Factor[] = [];
  for (const column of covariates.filter(isFactor)) {
    const answers = await ask({ kind: "table", rows: column, cols: "" });
    const levels = new Set<string>();
    for (const { reply } of answers) {
      if (reply.result.kind !== "table") continue;
      const { rowLevels, cells } = reply.result;
      rowLevels.forEach((level, i) => {
        if (level !== OTHER_LEVEL && typeof cells[i] === "number" && cells[i] > 0) levels.add(level);
      });
    }
    factors.push({ column, levels: [...levels].sort() });
  }
  return { x: covariates.filter((c) => !isFactor(c)), factors };
}

function names(intercept: boolean, x: string[], factors: Factor[]): string[] {
  return [
    ...(intercept ? ["(Intercept)"] : []),
    ...x,
    ...factors.flatMap((f) => f.levels.slice(1).map((k) => `${f.column}=${k}`)),
  ];
}

function sum(answers: Answer[], pick: (r: ClinicalReplyBody["result"]) => ArrayLike<number>): number[] {
  const out: number[] = [];
  for (const { reply } of answers) {
    const v = pick(reply.result);
    for (let i = 0; i < v.length; i++) out[i] = (out[i] ?? 0) + v[i];
  }
  return out;
}

async function glm(name: string, spec: GlmSpec, participants: Participant[], ask: Ask): Promise<GlmResult> {
  const { x, factors } = await factorsOf(spec.x, spec.categorical, participants, ask);
  let last: Answer[] = [];
  const fit = await fitGlm({
    family: spec.family,
    names: names(true, x, factors),
    maxIterations: spec.max_iterations,
    evaluate: async (beta) => {
      last = await ask({ kind: "glm", family: spec.family, y: spec.y, x, factors, beta: [...beta] });
      const glmOf = (r: ClinicalReplyBody["result"]) =>
        r.kind === "glm" ? r : { xtwx: [], xtwz: [], deviance: 0, loglik: 0 };
      return {
        xtwx: sum(last, (r) => glmOf(r).xtwx),
        xtwz: sum(last, (r) => glmOf(r).xtwz),
        deviance: last.reduce((s, a) => s + glmOf(a.reply.result).deviance, 0),
        loglik: last.reduce((s, a) => s + glmOf(a.reply.result).loglik, 0),
        n: last.reduce((s, a) => s + a.reply.rows, 0),
      };
    },
  });
  return { event: "glm", name, y: spec.y, ...fit, nodes: uses(last) };
}

async function cox(name: string, spec: CoxSpec, participants: Participant[], ask: Ask): Promise<CoxResult> {
  const { x, factors } = await factorsOf(spec.covariates, spec.categorical, participants, ask);
  let last: Answer[] = [];
  const step = (beta: ArrayLike<number>, concordance = false): ClinicalQuery => ({
    kind: "cox",
    time: spec.time,
    event: spec.event,
    x,
    factors,
    strata: spec.strata ?? "",
    ties: spec.ties,
    beta: [...Array.from(beta)],
    concordance,
  });
  const fit = await fitCox({
    names: names(false, x, factors),
    maxIterations: spec.max_iterations,
    evaluate: async (beta) => {
      last = await ask(step(beta));
      const coxOf = (r: ClinicalReplyBody["result"]) =>
        r.kind === "cox" ? r : { loglik: 0, gradient: [], information: [], events: 0 };
      return {
        loglik: last.reduce((s, a) => s + coxOf(a.reply.result).loglik, 0),
        gradient: sum(last, (r) => coxOf(r).gradient),
        information: sum(last, (r) => coxOf(r).information),
        events: last.reduce((s, a) => s + coxOf(a.reply.result).events, 0),
        n: last.reduce((s, a) => s + a.reply.rows, 0),
      };
    },
  });
  // One more pass at the fitted β for the concordance: O(n²) pairs on each node, so not every iteration.
  const final = await ask(
    step(
      fit.coefficients.map((c) => c.estimate),
      true,
    ),
  );
  const pairs = { concordant: 0, discordant: 0, tiedRisk: 0 };
  for (const { reply } of final) {
    if (reply.result.kind !== "cox") continue;
    pairs.concordant += reply.result.concordant;
    pairs.discordant += reply.result.discordant;
    pairs.tiedRisk += reply.result.tiedRisk;
  }
  return {
    event: "cox",
    name,
    ties: spec.ties,
    strata: ["node", ...(spec.strata ? [spec.strata] : [])],
    ...fit,
    concordance: concordanceIndex(pairs),
    nodes: uses(last),
  };
}

async function km(name: string, spec: KmSpec, ask: Ask): Promise<KmResult> {
  const query = { time: spec.time, event: spec.event, group: spec.group ?? "", grid: spec.grid };
  const cuts = await commonCuts(async (start) =>
    (await ask({ kind: "km_cuts", ...query, cuts: [start] })).map(({ reply }) =>
      reply.result.kind === "km_cuts" ? reply.result.cuts[0] : undefined,
    ),
  );
  const answers = await ask({ kind: "km_counts", ...query, cuts });
  const intervals = cuts.length;
  const groups = [
    ...new Set(answers.flatMap(({ reply }) => (reply.result.kind === "km_counts" ? reply.result.groups : []))),
  ].sort();
  const events = groups.map(() => new Array(intervals).fill(0));
  const censored = groups.map(() => new Array(intervals).fill(0));
  for (const { reply } of answers) {
    if (reply.result.kind !== "km_counts") continue;
    const r = reply.result;
    r.groups.forEach((g, k) => {
      const at = groups.indexOf(g);
      for (let i = 0; i < intervals; i++) {
        events[at][i] += r.events[k * intervals + i];
        censored[at][i] += r.censored[k * intervals + i];
      }
    });
  }
  const starts = cuts.map((c) => c * spec.grid);
  return {
    event: "km",
    name,
    time: spec.time,
    event_column: spec.event,
    group: spec.group ?? null,
    grid: spec.grid,
    curves: groups.map((g, k) => kaplanMeier(g, starts, events[k], censored[k])),
    log_rank: groups.length > 1 ? logRank(events, censored) : null,
    nodes: uses(answers),
  };
}

async function crosstab(name: string, spec: CrosstabSpec, ask: Ask): Promise<CrosstabResult> {
  const answers = await ask({ kind: "table", rows: spec.rows, cols: spec.cols });
  const tables = answers.flatMap(({ reply }) =>
    reply.result.kind === "table" ? [{ ...reply.result, minCount: reply.minCount }] : [],
  );
  const rowLevels = [...new Set(tables.flatMap((t) => t.rowLevels))].sort();
  const colLevels = [...new Set(tables.flatMap((t) => t.colLevels))].sort();
  const cells: (number | string)[][] = rowLevels.map((r) =>
    colLevels.map((c) => {
      let known = 0;
      let low = 0;
      let high = 0;
      let hidden = false;
      for (const t of tables) {
        const i = t.rowLevels.indexOf(r);
        const j = t.colLevels.indexOf(c);
        if (i < 0 || j < 0) continue;
        const cell = t.cells[i * t.colLevels.length + j];
        if (typeof cell === "number") known += cell;
        else if (cell === "below") {
          low += 1;
          high += t.minCount - 1;
        } else hidden = true;
      }
      if (hidden) return "hidden";
      return high > 0 ? `${known + low}-${known + high}` : known;
    }),
  );
  const complete = cells.every((row) => row.every((c) => typeof c === "number"));
  const flat = complete ? (cells.flat() as number[]) : [];
  const chi =
    complete && rowLevels.length > 1 && colLevels.length > 1
      ? chiSquareTest(flat, rowLevels.length, colLevels.length)
      : null;
  const fisher =
    chi && rowLevels.length === 2 && colLevels.length === 2 && chi.min_expected < 5 ? fisherExact(flat) : null;
  return {
    event: "crosstab",
    name,
    rows: spec.rows,
    cols: spec.cols,
    row_levels: rowLevels,
    col_levels: colLevels,
    cells,
    chi_square: chi,
    fisher_p: fisher,
    nodes: uses(answers),
  };
}
