import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  ClinicalReply,
  ClinicalReplySchema,
  ClinicalTask,
  ClinicalTaskSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import { fromCount, toCount } from "./analytics-codec.js";
import type { ClinicalReplyBody, ClinicalTaskBody, CoxTies, GlmFamily } from "./clinical-messages.js";
import { WireError } from "./wire-error.js";

/** Clinical task and reply ⇄ protobuf (`fbm-researcher analyze`). */

export function toClinicalTaskInit(body: ClinicalTaskBody): MessageInitShape<typeof ClinicalTaskSchema> {
  const q = body.query;
  const query: MessageInitShape<typeof ClinicalTaskSchema>["query"] =
    q.kind === "table"
      ? { case: "table", value: { rows: q.rows, cols: q.cols } }
      : q.kind === "glm"
        ? { case: "glm", value: { family: q.family, y: q.y, x: q.x, factors: q.factors, beta: q.beta } }
        : q.kind === "km_cuts"
          ? { case: "kmCuts", value: { time: q.time, event: q.event, group: q.group, grid: q.grid, cuts: q.cuts } }
          : q.kind === "km_counts"
            ? {
                case: "kmCounts",
                value: { time: q.time, event: q.event, group: q.group, grid: q.grid, cuts: q.cuts },
              }
            : {
                case: "cox",
                value: {
                  time: q.time,
                  event: q.event,
                  x: q.x,
                  factors: q.factors,
                  strata: q.strata,
                  ties: q.ties,
                  beta: q.beta,
                  concordance: q.concordance ?? false,
                },
              };
  return { datasetId: body.datasetId, queryId: body.queryId, query };
}

export function fromClinicalTask(task: ClinicalTask): ClinicalTaskBody {
  const common = { kind: "clinical" as const, datasetId: task.datasetId, queryId: task.queryId };
  const q = task.query;
  const factors = (list: { column: string; levels: string[] }[]) =>
    list.map((f) => ({ column: f.column, levels: [...f.levels] }));
  switch (q.case) {
    case "table":
      return { ...common, query: { kind: "table", rows: q.value.rows, cols: q.value.cols } };
    case "glm":
      return {
        ...common,
        query: {
          kind: "glm",
          family: q.value.family as GlmFamily,
          y: q.value.y,
          x: [...q.value.x],
          factors: factors(q.value.factors),
          beta: [...q.value.beta],
        },
      };
    case "kmCuts":
      return {
        ...common,
        query: {
          kind: "km_cuts",
          time: q.value.time,
          event: q.value.event,
          group: q.value.group,
          grid: q.value.grid,
          cuts: [...q.value.cuts],
        },
      };
    case "kmCounts":
      return {
        ...common,
        query: {
          kind: "km_counts",
          time: q.value.time,
          event: q.value.event,
          group: q.value.group,
          grid: q.value.grid,
          cuts: [...q.value.cuts],
        },
      };
    case "cox":
      return {
        ...common,
        query: {
          kind: "cox",
          time: q.value.time,
          event: q.value.event,
          x: [...q.value.x],
          factors: factors(q.value.factors),
          strata: q.value.strata,
          ties: q.value.ties as CoxTies,
          beta: [...q.value.beta],
          concordance: q.value.concordance,
        },
      };
    default:
      throw new WireError("Clinical task of an unknown kind (is this node older than the researcher?)");
  }
}

export function toClinicalReplyInit(body: ClinicalReplyBody): MessageInitShape<typeof ClinicalReplySchema> {
  const r = body.result;
  const result: MessageInitShape<typeof ClinicalReplySchema>["result"] =
    r.kind === "table"
      ? { case: "table", value: { rowLevels: r.rowLevels, colLevels: r.colLevels, cells: r.cells.map(toCount) } }
      : r.kind === "glm"
        ? { case: "glm", value: { xtwx: r.xtwx, xtwz: r.xtwz, deviance: r.deviance, loglik: r.loglik } }
        : r.kind === "km_cuts"
          ? { case: "kmCuts", value: { cuts: r.cuts } }
          : r.kind === "km_counts"
            ? {
                case: "kmCounts",
                value: { groups: r.groups, events: r.events.map(BigInt), censored: r.censored.map(BigInt) },
              }
            : {
                case: "cox",
                value: {
                  loglik: r.loglik,
                  gradient: r.gradient,
                  information: r.information,
                  events: BigInt(r.events),
                  concordant: BigInt(r.concordant),
                  discordant: BigInt(r.discordant),
                  tiedRisk: BigInt(r.tiedRisk),
                },
              };
  return { minCount: body.minCount, rows: BigInt(body.rows), excluded: toCount(body.excluded), result };
}

export function fromClinicalReply(reply: ClinicalReply): ClinicalReplyBody {
  const common = {
    kind: "clinical" as const,
    minCount: reply.minCount,
    rows: Number(reply.rows),
    excluded: fromCount(reply.excluded),
  };
  const r = reply.result;
  switch (r.case) {
    case "table":
      return {
        ...common,
        result: {
          kind: "table",
          rowLevels: [...r.value.rowLevels],
          colLevels: [...r.value.colLevels],
          cells: r.value.cells.map((c) => fromCount(c)),
        },
      };
    case "glm":
      return {
        ...common,
        result: {
          kind: "glm",
          xtwx: [...r.value.xtwx],
          xtwz: [...r.value.xtwz],
          deviance: r.value.deviance,
          loglik: r.value.loglik,
        },
      };
    case "kmCuts":
      return { ...common, result: { kind: "km_cuts", cuts: [...r.value.cuts] } };
    case "kmCounts":
      return {
        ...common,
        result: {
          kind: "km_counts",
          groups: [...r.value.groups],
          events: r.value.events.map(Number),
          censored: r.value.censored.map(Number),
        },
      };
    case "cox":
      return {
        ...common,
        result: {
          kind: "cox",
          loglik: r.value.loglik,
          gradient: [...r.value.gradient],
          information: [...r.value.information],
          events: Number(r.value.events),
          concordant: Number(r.value.concordant),
          discordant: Number(r.value.discordant),
          tiedRisk: Number(r.value.tiedRisk),
        },
      };
    default:
      throw new WireError("Clinical reply of an unknown kind (is this researcher older than the node?)");
  }
}
