import { Command } from "@commander-js/extra-typings";
import { type CliIo, withStopSignal } from "../../common/cli.js";
import { InputError } from "../../common/errors.js";
import { servingFromFlags, withServingFlags } from "./serving-flags.js";

/** `fbm-researcher stats`: federated statistics; the work is runStats (src/researcher/stats/run-stats.ts). */
export function statsCommand(io: CliIo, globals: () => { json?: true }): Command<any, any, any> {
  return withServingFlags(
    new Command("stats")
      .description(
        "serve until nodes answer, then print statistics of their datasets pooled and per node (never a row)",
      )
      .requiredOption("--tags <a,b>", "datasets carrying all these tags")
      .option("--columns <a,b>", 'columns to describe (default: all; "pixels" for images)')
      .option("--quantiles <q,…>", "quantiles to estimate", "0.25,0.5,0.75")
      .option("--bins <n>", "histogram bins", "10")
      .option("--nodes <n>", "stop waiting once this many nodes hold a matching dataset (fewer: a warning)")
      .option("--strict", "exit 1 when fewer than --nodes nodes answered")
      .option("--wait <seconds>", "how long to wait for nodes", "10")
      .option("--json", "print one JSON object on stdout"),
  ).action(async (options) => {
    const serving = servingFromFlags(options);
    const list = (text: string) =>
      text
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
    const quantiles = list(options.quantiles).map((q) => numberFlag(q, "--quantiles"));
    const bins = numberFlag(options.bins, "--bins");
    const nodes = options.nodes === undefined ? undefined : numberFlag(options.nodes, "--nodes");
    const { runStats } = await import("../stats/run-stats.js");
    const { formatStatsTable } = await import("./stats-table.js");
    const { checkNodesAnswered } = await import("./nodes-answered.js");
    const result = await withStopSignal(io.signal, (signal) =>
      runStats({
        tags: list(options.tags),
        columns: options.columns === undefined ? undefined : list(options.columns),
        quantiles,
        bins,
        nodes,
        waitSeconds: numberFlag(options.wait, "--wait"),
        ...serving,
        signal,
        log: (line) => io.stderr(`${line}\n`),
      }),
    );
    if (options.json || globals().json) io.stdout(`${JSON.stringify(result)}\n`);
    else io.stderr(formatStatsTable(result));
    checkNodesAnswered({
      answered: new Set(result.nodes.map((n) => n.node)).size,
      wanted: nodes,
      waitSeconds: numberFlag(options.wait, "--wait"),
      strict: options.strict === true,
      warn: (line) => io.stderr(`${line}\n`),
    });
  });
}

function numberFlag(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new InputError(`Invalid ${flag} "${text}": give a number`);
  return n;
}
