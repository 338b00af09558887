import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../../common/errors.js";
import type { RoundEvent } from "../run/events.js";

/** What a report shows, read from a run folder: curves, the node table, the config, privacy. */

/** One line of a chart: `pooled` (or the run's ε) or a node's name, and its [round, value] points. */
export interface Series {
  name: string;
  points: [number, number][];
  /** The run's own line (pooled figures, the run's ε), drawn solid black and listed first. */
  main?: boolean;
}

/** One chart: a figure ("loss", "global/accuracy", "privacy/epsilon"…) over rounds. */
export interface Curve {
  metric: string;
  series: Series[];
}

export interface NodeRow {
  node: string;
  name: string;
  samples: number;
  rounds: number;
  failures: number;
  seconds: number;
}

export interface ReportData {
  name: string;
  rounds: number;
  curves: Curve[];
  nodes: NodeRow[];
  failures: { round: number; name: string; code: string; message: string }[];
  /** Per round: the run's privacy figures and, under local dp, each node's ε by name. */
  privacy: { round: number; values: Record<string, unknown>; nodes: Record<string, number> }[];
  config?: unknown;
  done?: { metrics?: Record<string, number>; auc_error?: number; privacy?: Record<string, unknown> };
}

/** Reads history.jsonl (required), experiment.json and done.json (when present) of a run folder. */
export async function readRunFolder(dir: string): Promise<ReportData> {
  const historyPath = join(dir, "history.jsonl");
  const text = await readFile(historyPath, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new InputError(
      error.code === "ENOENT"
        ? `Cannot report on ${dir}: it has no history.jsonl (is it a run folder <out>/<name>/ with a complete round?)`
        : `Cannot read ${historyPath}: ${error.message}`,
    );
  });
  const lines = text.split("\n");
  const rounds: RoundEvent[] = lines
    .map((line, i) => {
      if (line.trim() === "") return undefined;
      try {
        return JSON.parse(line);
      } catch {
        // A last line without its newline was torn by a crash while its round was journaled (the
        // breakpoint does not count it, --resume drops it): left out here too.
        if (i === lines.length - 1) return undefined;
        throw new InputError(`Cannot read ${historyPath}: line ${i + 1} is not JSON`);
      }
    })
    .filter((e) => e?.event === "round");
  const optional = async (name: string) => {
    const content = await readFile(join(dir, name), "utf8").catch(() => undefined);
    if (content === undefined) return undefined;
    try {
      return JSON.parse(content);
    } catch {
      throw new InputError(`Cannot read ${join(dir, name)}: it is not valid JSON`);
    }
  };
  const config = await optional("experiment.json");
  return {
    ...summarize(rounds),
    name: (config as { name?: string } | undefined)?.name ?? dir.split(/[\\/]/).filter(Boolean).pop() ?? dir,
    config,
    done: await optional("done.json"),
  };
}

/** The run's ε line: the largest over the nodes (local dp), or the researcher's accountant (central). */
const MAX_OVER_NODES = "largest over nodes";
const RUN = "run";

/** Curves, node table, failures and privacy figures of the round events. */
export function summarize(rounds: RoundEvent[]): Omit<ReportData, "name" | "config" | "done"> {
  const curves = new Map<string, Map<string, [number, number][]>>();
  const add = (metric: string, series: string, round: number, value: unknown) => {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    const chart = curves.get(metric) ?? new Map<string, [number, number][]>();
    curves.set(metric, chart);
    chart.set(series, [...(chart.get(series) ?? []), [round, value]]);
  };
  const nodes = new Map<string, NodeRow>();
  const failures: ReportData["failures"] = [];
  const privacy: ReportData["privacy"] = [];
  for (const e of rounds) {
    add("loss", "pooled", e.round, e.loss);
    for (const when of ["global", "local"] as const)
      for (const [k, v] of Object.entries(e.metrics?.[when] ?? {})) add(`${when}/${k}`, "pooled", e.round, v);
    for (const n of e.nodes ?? []) {
      add("loss", n.name, e.round, n.loss);
      for (const when of ["global", "local"] as const)
        for (const [k, v] of Object.entries(n[when] ?? {})) add(`${when}/${k}`, n.name, e.round, v);
      const row = nodes.get(n.node) ?? { node: n.node, name: n.name, samples: 0, rounds: 0, failures: 0, seconds: 0 };
      nodes.set(n.node, { ...row, samples: n.samples, rounds: row.rounds + 1, seconds: row.seconds + n.seconds });
    }
    for (const f of e.failed ?? []) {
      failures.push({ round: e.round, name: f.name, code: f.code, message: f.message });
      const row = nodes.get(f.node) ?? { node: f.node, name: f.name, samples: 0, rounds: 0, failures: 0, seconds: 0 };
      nodes.set(f.node, { ...row, failures: row.failures + 1 });
    }
    if (e.privacy && typeof e.privacy === "object") {
      // Local dp: each node's ledger ε; the run's is the largest of them, not a pooled figure.
      const perNode = Object.fromEntries(
        (e.nodes ?? []).flatMap((n) => (n.privacy ? [[n.name, n.privacy.epsilon] as const] : [])),
      );
      privacy.push({ round: e.round, values: { ...e.privacy }, nodes: perNode });
      // Only ε is drawn: δ is fixed for a run (the table and the summary give it).
      add("privacy/epsilon", Object.keys(perNode).length > 0 ? MAX_OVER_NODES : RUN, e.round, e.privacy.epsilon);
      for (const [name, epsilon] of Object.entries(perNode)) add("privacy/epsilon", name, e.round, epsilon);
    }
  }
  const main = new Set(["pooled", MAX_OVER_NODES, RUN]);
  return {
    rounds: rounds.length,
    curves: [...curves].map(([metric, series]) => ({
      metric,
      // The pooled line first, then nodes by name.
      series: [...series]
        .map(([name, points]) => ({ name, points, ...(main.has(name) ? { main: true } : {}) }))
        .sort((a, b) => (a.main ? -1 : b.main ? 1 : a.name.localeCompare(b.name))),
    })),
    nodes: [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name)),
    failures,
    privacy,
  };
}
