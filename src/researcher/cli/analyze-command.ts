import { writeFileSync } from "node:fs";
import { Command } from "@commander-js/extra-typings";
import { type CliIo, withStopSignal } from "../../common/cli.js";
import { errorMessage, InputError, RuntimeFailure } from "../../common/errors.js";
import { servingFromFlags, withServingFlags } from "./serving-flags.js";

/** `fbm-researcher analyze FILE`: clinical statistics; the work is runAnalyze (src/researcher/analyze/run-analyze.ts). */
export function analyzeCommand(io: CliIo, globals: () => { json?: true }): Command<any, any, any> {
  return withServingFlags(
    new Command("analyze")
      .description(
        "serve until nodes answer, then run the regressions, survival curves and tables of ANALYSIS.yaml, pooled exactly",
      )
      .argument("<analysis.yaml>", "the analyses to run (README: Clinical statistics)")
      .option("--nodes <n>", "stop waiting once this many nodes hold a matching dataset")
      .option("--wait <seconds>", "how long to wait for nodes", "10")
      .option("--json", "print one JSON object per analysis on stdout")
      .option("--plot <file.svg>", "draw the Kaplan–Meier curves with numbers at risk (FILE-<name>.svg when several)"),
  ).action(async (file, options) => {
    const serving = servingFromFlags(options);
    const whole = (text: string, flag: string) => {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) throw new InputError(`Invalid ${flag} "${text}": give a number`);
      return n;
    };
    const { readAnalysisFile } = await import("../analyze/analysis-file.js");
    const { runAnalyze } = await import("../analyze/run-analyze.js");
    const { formatAnalysis } = await import("./analyze-table.js");
    const analyses = await readAnalysisFile(file);
    const json = options.json || globals().json;
    const plot = options.plot;
    if (plot !== undefined && !plot.toLowerCase().endsWith(".svg"))
      throw new InputError(`Invalid --plot "${plot}": give a file name ending in .svg`);
    const survival = analyses.analyses.filter((a) => a.km).length;
    const { kmSvg } = await import("../analyze/km-plot.js");
    await withStopSignal(io.signal, (signal) =>
      runAnalyze({
        file: analyses,
        nodes: options.nodes === undefined ? undefined : whole(options.nodes, "--nodes"),
        waitSeconds: whole(options.wait, "--wait"),
        ...serving,
        signal,
        log: (line) => io.stderr(`${line}\n`),
        onResult: (result) => {
          if (json) io.stdout(`${JSON.stringify(result)}\n`);
          else io.stderr(formatAnalysis(result));
          if (plot !== undefined && result.event === "km") {
            const path = survival > 1 ? plot.replace(/\.svg$/i, `-${result.name.replace(/[^\w.-]/g, "_")}.svg`) : plot;
            try {
              writeFileSync(path, kmSvg(result));
            } catch (error) {
              throw new RuntimeFailure(`Cannot write --plot "${path}": ${errorMessage(error)}`);
            }
            io.stderr(`Kaplan–Meier curves of "${result.name}" written to ${path}\n`);
          }
        },
      }),
    );
  });
}
