import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type AnalyticsReply,
  type AnalyticsReplySchema,
  type AnalyticsTask,
  type AnalyticsTaskSchema,
  type Count,
  CountKind,
  type CountSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import type { AnalyticsReplyBody, AnalyticsTaskBody, PublishedCount } from "./analytics-messages.js";
import { WireError } from "./wire-error.js";

/** Analytics task and reply ⇄ protobuf. A count's value travels only when it is exact. */

export function toAnalyticsTaskInit(body: AnalyticsTaskBody): MessageInitShape<typeof AnalyticsTaskSchema> {
  const phase: MessageInitShape<typeof AnalyticsTaskSchema>["phase"] =
    body.phase === "summary"
      ? { case: "summary", value: {} }
      : { case: "histogram", value: { columns: body.histograms.map((h) => ({ ...h })) } };
  return { datasetId: body.datasetId, columns: body.columns, phase };
}

export function fromAnalyticsTask(task: AnalyticsTask): AnalyticsTaskBody {
  const common = { kind: "analytics" as const, datasetId: task.datasetId, columns: [...task.columns] };
  switch (task.phase.case) {
    case "summary":
      return { ...common, phase: "summary" };
    case "histogram":
      return {
        ...common,
        phase: "histogram",
        histograms: task.phase.value.columns.map((h) => ({
          column: h.column,
          lo: h.lo,
          hi: h.hi,
          bins: h.bins,
          fine: h.fine,
        })),
      };
    default:
      throw new WireError("Analytics task of an unknown phase (is this node older than the researcher?)");
  }
}

export function toAnalyticsReplyInit(body: AnalyticsReplyBody): MessageInitShape<typeof AnalyticsReplySchema> {
  return {
    minCount: body.minCount,
    tooSmall: body.tooSmall,
    summaries: body.summaries.map((s) => ({
      ...s,
      count: toCount(s.count),
      missing: toCount(s.missing),
      classes: s.classes.map((c) => ({ name: c.name, count: toCount(c.count) })),
    })),
    histograms: body.histograms.map((h) => ({
      name: h.name,
      counts: h.counts.map(toCount),
      fine: h.fine.map((f) => ({ start: f.start, end: f.end, count: BigInt(f.count) })),
    })),
  };
}

export function fromAnalyticsReply(reply: AnalyticsReply): AnalyticsReplyBody {
  return {
    kind: "analytics",
    minCount: reply.minCount,
    tooSmall: reply.tooSmall,
    summaries: reply.summaries.map((s) => ({
      name: s.name,
      count: fromCount(s.count),
      missing: fromCount(s.missing),
      sum: s.sum,
      mean: s.mean,
      m2: s.m2,
      min: s.min,
      max: s.max,
      minMaxGrid: s.minMaxGrid,
      histogramGrid: s.histogramGrid,
      rangeLo: s.rangeLo,
      rangeHi: s.rangeHi,
      classes: s.classes.map((c) => ({ name: c.name, count: fromCount(c.count) })),
    })),
    histograms: reply.histograms.map((h) => ({
      name: h.name,
      counts: h.counts.map((c) => fromCount(c)),
      fine: h.fine.map((f) => ({ start: f.start, end: f.end, count: Number(f.count) })),
    })),
  };
}

export function toCount(count: PublishedCount): MessageInitShape<typeof CountSchema> {
  if (count === "below") return { kind: CountKind.BELOW_MIN };
  if (count === "hidden") return { kind: CountKind.HIDDEN };
  return { kind: CountKind.EXACT, value: BigInt(count) };
}

/** A published count as read off the wire. */
export function fromCount(count: Count | undefined): PublishedCount {
  switch (count?.kind) {
    case CountKind.EXACT:
      return Number(count.value);
    case CountKind.BELOW_MIN:
      return "below";
    case CountKind.HIDDEN:
      return "hidden";
    default:
      throw new WireError("Analytics reply carries a count of an unknown kind");
  }
}
