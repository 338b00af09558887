import { errorMessage, InputError, Interrupted, RuntimeFailure } from "../../common/errors.js";
import type { HistogramGrid } from "../../ml/stats/histogram-grid.js";
import type { DatasetInfo, ReplyBody, TaskBody } from "../../wire/index.js";
import { discover, type Participant } from "../server/discover.js";
import { createHub, type Hub } from "../server/hub.js";
import { startServer } from "../server/server.js";
import { agreeGrid } from "./agree-grid.js";
import { nodeColumn, pooledColumn } from "./column-report.js";
import { checkStatsOptions, type StatsOptions } from "./stats-options.js";
import type { NodeAnswer, NodeReport, StatsResult } from "./stats-result.js";

/** How long one phase may take on a node (reading a large dataset twice takes a while). */
const PHASE_TIMEOUT_MS = 10 * 60_000;
const EXPERIMENT = "stats";

export type { Participant };

/**
 * Federated statistics over the datasets tagged `tags`: serves until nodes holding one connect, then
 * asks each for a summary per column, agrees histogram edges from their ranges, asks for histograms,
 * and pools. Nodes send only figures their min_count and stats_minmax allow (README "Federated statistics").
 */
export async function runStats(options: StatsOptions): Promise<StatsResult> {
  const o = checkStatsOptions(options);
  const hub = createHub({ pollWindowMs: 5000, log: options.log });
  const server = await startServer({
    listen: o.listen,
    hub,
    tls: o.tls,
    allowList: o.allowList,
    insecure: o.insecure,
    log: o.log,
  });
  try {
    o.log?.(
      `Listening on ${server.url}; waiting up to ${o.waitSeconds} s for nodes with datasets tagged [${o.tags.join(", ")}]`,
    );
    const participants = await collect(hub, o.tags, o.waitSeconds, o.nodes, o.signal, o.log);
    if (participants.length === 0) {
      const online = hub.nodes().filter((n) => n.online).length;
      throw new RuntimeFailure(
        `No node holding a dataset tagged [${o.tags.join(", ")}] answered within ${o.waitSeconds} s (${online} connected): ` +
          "start the nodes, add datasets with these tags, or give --wait more seconds",
      );
    }
    const columns = o.columns ?? [...new Set(participants.flatMap((p) => columnsOf(p.dataset)))];
    if (o.columns) checkColumns(participants, o.columns);
    o.log?.(`Statistics of ${columns.length} column(s) on ${participants.length} node(s)`);
    const send = (p: Participant, body: TaskBody) =>
      hub.send(p.node, body, { timeoutMs: PHASE_TIMEOUT_MS, signal: o.signal, experiment: EXPERIMENT });
    return await gatherStats(participants, columns, send, o);
  } finally {
    hub.close();
    await server.close();
  }
}

/**
 * The two phases with the given nodes, through `send` (a running experiment's hub, or runStats's own):
 * summaries, agreed histogram edges, histograms, pooled. Nodes that fail are reported, not thrown,
 * unless every node fails.
 */
export async function gatherStats(
  participants: Participant[],
  columns: string[],
  send: (p: Participant, body: TaskBody) => Promise<ReplyBody>,
  o: { bins: number; quantiles: number[]; signal?: AbortSignal; log?: (line: string) => void },
): Promise<StatsResult> {
  const answers = await Promise.all(
    participants.map(async (p): Promise<NodeAnswer> => {
      const answer: NodeAnswer = { ...p, minCount: 0, tooSmall: false, summaries: [], histograms: [] };
      const wanted = columns.filter((c) => columnsOf(p.dataset).includes(c));
      const reply = await ask(() =>
        send(p, { kind: "analytics", phase: "summary", datasetId: p.dataset.id, columns: wanted }),
      );
      if (reply.kind !== "analytics") return { ...answer, error: reply.error };
      return {
        ...answer,
        minCount: reply.body.minCount,
        tooSmall: reply.body.tooSmall,
        summaries: reply.body.summaries,
      };
    }),
  );
  const usable = () => answers.filter((a) => !a.error && !a.tooSmall);
  const grids = new Map<string, HistogramGrid>();
  for (const column of columns) {
    const grid = agreeGrid(
      usable().flatMap((a) => a.summaries.filter((s) => s.name === column)),
      o.bins,
    );
    if (grid) grids.set(column, grid);
  }
  await Promise.all(
    usable().map(async (a) => {
      const histograms = a.summaries
        .filter((s) => grids.has(s.name))
        .map((s) => ({ column: s.name, ...grids.get(s.name)! }));
      if (histograms.length === 0) return;
      const reply = await ask(() =>
        send(a, {
          kind: "analytics",
          phase: "histogram",
          datasetId: a.dataset.id,
          columns: histograms.map((h) => h.column),
          histograms,
        }),
      );
      if (reply.kind === "analytics") a.histograms = reply.body.histograms;
      else a.error = reply.error;
    }),
  );
  if (o.signal?.aborted) throw new Interrupted();
  for (const a of answers) if (a.error) o.log?.(`Node ${a.name} gave no statistics: ${a.error}`);
  if (answers.every((a) => a.error)) {
    throw new RuntimeFailure(
      `No node could compute statistics: ${answers.map((a) => `${a.name}: ${a.error}`).join("; ")}`,
    );
  }
  return report(answers, columns, grids, o.quantiles);
}

/** The result object from every node's answers. */
function report(
  answers: NodeAnswer[],
  columns: string[],
  grids: Map<string, HistogramGrid>,
  quantiles: number[],
): StatsResult {
  const nodes: NodeReport[] = answers
    .map((a) => {
      const entry: NodeReport = {
        node: a.node,
        name: a.name,
        dataset: a.dataset.name,
        dataset_id: a.dataset.id,
        min_count: a.minCount,
        columns: {},
      };
      if (a.tooSmall) entry.size = `<${a.minCount}`;
      if (a.error) entry.error = a.error;
      for (const c of columns) {
        const column = nodeColumn(a, c, grids.get(c), quantiles);
        if (column) entry.columns[c] = column;
      }
      return entry;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const pooled: StatsResult["pooled"] = {};
  const usable = answers.filter((a) => !a.error && !a.tooSmall);
  for (const c of columns) {
    const column = pooledColumn(usable, c, grids.get(c), quantiles);
    if (column) pooled[c] = column;
  }
  return { event: "stats", nodes, pooled };
}

/** A task's analytics reply, or why there is none (an error reply, a timeout, a lost node). */
async function ask(
  send: () => Promise<ReplyBody>,
): Promise<{ kind: "analytics"; body: Extract<ReplyBody, { kind: "analytics" }> } | { kind: "error"; error: string }> {
  try {
    const body = await send();
    if (body.kind === "analytics") return { kind: "analytics", body };
    return { kind: "error", error: body.kind === "error" ? body.message : `it answered with a ${body.kind} reply` };
  } catch (error) {
    return { kind: "error", error: errorMessage(error) };
  }
}

/**
 * The columns statistics can describe in a dataset: every column of a csv (numbers; text columns get
 * category counts), a medical folder's modalities (columns typed "volume …": their voxels) and numeric
 * demographics columns, or "pixels" (images).
 */
export function columnsOf(dataset: DatasetInfo): string[] {
  // Demographics columns too: numbers, one per subject.
  if (dataset.type === "medical-folder") return dataset.columns.filter((c) => c.dtype !== "string").map((c) => c.name);
  return dataset.type === "csv" ? dataset.columns.map((c) => c.name) : ["pixels"];
}

/** Throws an InputError naming the first requested column a node's dataset lacks, and the columns it has. */
export function checkColumns(participants: { name: string; dataset: DatasetInfo }[], columns: string[]): void {
  for (const p of participants) {
    const available = columnsOf(p.dataset);
    const missing = columns.find((c) => !available.includes(c));
    if (missing !== undefined) {
      throw new InputError(
        `Cannot compute statistics: column "${missing}" is not in dataset "${p.dataset.name}" on node ${p.name}; columns: ${available.join(", ")}`,
      );
    }
  }
}

/**
 * Waits `waitSeconds` (or until `nodes` nodes hold a matching dataset) for nodes to connect and answer
 * (see discover); the oldest matching dataset of each online node takes part, nodes sorted by name.
 */
export async function collect(
  hub: Hub,
  tags: string[],
  waitSeconds: number,
  nodes: number | undefined,
  signal?: AbortSignal,
  log?: (line: string) => void,
): Promise<Participant[]> {
  const federation = discover(hub, { tags, experiment: EXPERIMENT, timeoutMs: waitSeconds * 1000 + 5000, log });
  try {
    await federation.until(() => federation.participants().length >= (nodes ?? Infinity), waitSeconds * 1000, signal);
  } finally {
    federation.close();
  }
  if (signal?.aborted) throw new Interrupted();
  return federation.participants().sort((a, b) => a.name.localeCompare(b.name));
}
