import { Command } from "@commander-js/extra-typings";
import { type CliIo, inheritSettings, processIo, runProgram, withStopSignal } from "../../common/cli.js";
import { Interrupted } from "../../common/errors.js";
import { createLogger, logSettings } from "../../common/log.js";
import { printVersion, versionOption } from "../../common/version-option.js";
import { versionText } from "../../ml/backend-probe.js";
import { analyzeCommand } from "./analyze-command.js";
import { configCommands } from "./config-commands.js";
import { modelCommands } from "./model-commands.js";
import { positiveInt } from "./positive-int.js";
import { createProgressPrinter } from "./progress-printer.js";
import { relayCommand } from "./relay-command.js";
import { reportCommand } from "./report-command.js";
import { servingFromFlags, withServingFlags } from "./serving-flags.js";
import { statsCommand } from "./stats-command.js";
import { trustCommands } from "./trust-commands.js";

// Commands load their heavy modules (TensorFlow.js, the server) on use, so --help stays fast.

/** The `fbm-researcher` program; never exits the process (see runResearcherCli). */
export function createResearcherCli(io: CliIo = processIo): Command<any, any, any> {
  const program = withServingFlags(new Command("fbm-researcher"))
    .description("The fbm researcher: serves nodes, runs federated experiments, evaluates exported models")
    .addOption(versionOption())
    .on("option:version", printVersion(io, versionText))
    .option("--json", "machine output on stdout (JSON Lines for runs)")
    .option("--debug", "print stack traces with errors")
    .option("--quiet", "log warnings and errors only (runs)")
    .option("--verbose", "log debug lines too (runs)")
    .option("--log-format <format>", "log lines as text (time, level, message) or json (one object per line)")
    .exitOverride()
    // Every command checks the logging flags, even one that never logs: `--log-format xml` is refused, not ignored.
    .hook("preAction", (cmd) => void logSettings(cmd.opts()))
    .helpCommand("help [command]", "show help for the program or a command")
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} })
    .argument("[experiment]", "experiment YAML file to run")
    .option("--out <dir>", "parent folder of the run folder <out>/<name>/", "runs")
    .option("--resume", "continue the run folder's last complete round")
    .option("--overwrite", "replace the run folder's earlier run (kept until this run writes its first file)")
    .option("--trace <file>", "append every message received from nodes to FILE (JSON lines, parameters as shapes)")
    .option(
      "--max-params <n>",
      "largest model (parameters) the researcher builds; bigger plans are refused",
      "10000000",
    )
    .action(async (file, options) => {
      if (!file) {
        program.help({ error: true });
        return;
      }
      const serving = servingFromFlags(options);
      const logger = createLogger({ write: io.stderr, ...logSettings(options) });
      const maxParams = positiveInt(options.maxParams, "--max-params");
      const { loadExperiment } = await import("../run/config.js");
      const { createExperiment, preflight, RESEARCHER_BACKEND } = await import("../run/experiment.js");
      const { selectBackend } = await import("../../ml/backend.js");
      const config = await loadExperiment(file);
      const { parseListen } = await import("../server/server.js");
      parseListen(options.listen); // bad input fails before anything is loaded or written
      const overwrite = options.overwrite === true;
      await preflight(config, { maxParams, outDir: options.out, resume: options.resume === true, overwrite });
      const json = program.opts().json === true;
      const print = createProgressPrinter(io.stderr, { isTty: io.isTty, columns: io.columns, logger });
      await selectBackend({ prefer: RESEARCHER_BACKEND, log: json ? undefined : logger.info });
      await withStopSignal(io.signal, async (signal) => {
        const experiment = createExperiment(config, {
          ...serving,
          listen: options.listen,
          outDir: options.out,
          resume: options.resume === true,
          overwrite,
          signal,
          traceFile: options.trace,
          maxParams,
          log: print.log,
        });
        try {
          for await (const event of experiment.run()) {
            if (json) io.stdout(`${JSON.stringify(event)}\n`);
            else print(event);
          }
        } catch (error) {
          if (signal.aborted)
            throw new Interrupted("Interrupted: the run folder keeps the last complete round (continue with --resume)");
          throw error; // runProgram prints it, and with --json also as an `error` event
        }
      });
    });

  withServingFlags(program.command("datasets"))
    .description("serve until nodes answer, then print the datasets they hold (never paths)")
    .option("--tags <a,b>", "only datasets carrying all these tags")
    .option("--wait <seconds>", "how long to collect answers from nodes", "10")
    .option("--nodes <n>", "stop waiting once this many nodes answered (fewer: a warning)")
    .option("--strict", "exit 1 when fewer than --nodes nodes answered")
    .option("--json", "print one JSON array (per node: id, name, datasets) on stdout")
    .action(async (options) => {
      const serving = servingFromFlags(options);
      const tags = options.tags
        ? options.tags
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean)
        : [];
      const { formatNodeDatasets, listDatasets } = await import("./list-datasets.js");
      const { checkNodesAnswered } = await import("./nodes-answered.js");
      const wanted = options.nodes === undefined ? undefined : positiveInt(options.nodes, "--nodes");
      const result = await withStopSignal(io.signal, (signal) =>
        listDatasets({
          tags,
          ...serving,
          listen: options.listen,
          waitSeconds: Number(options.wait),
          nodes: wanted,
          signal,
          log: (l) => io.stderr(`${l}\n`),
        }),
      );
      if (options.json || program.opts().json) io.stdout(`${JSON.stringify(result)}\n`);
      else {
        io.stderr(formatNodeDatasets(result));
      }
      checkNodesAnswered({
        answered: result.length,
        wanted,
        waitSeconds: Number(options.wait),
        strict: options.strict === true,
        warn: (line) => io.stderr(`${line}\n`),
      });
    });

  for (const command of configCommands(io, () => program.opts())) program.addCommand(command);
  program.addCommand(statsCommand(io, () => program.opts()));
  program.addCommand(analyzeCommand(io, () => program.opts()));
  program.addCommand(reportCommand(io, () => program.opts()));
  program.addCommand(relayCommand(io, () => program.opts()));
  for (const command of modelCommands(io, () => program.opts())) program.addCommand(command);
  for (const command of trustCommands(io, () => program.opts())) program.addCommand(command);
  inheritSettings(program);
  return program;
}

export function runResearcherCli(argv: string[], io: CliIo = processIo): Promise<number> {
  return runProgram(createResearcherCli(io), argv, io, { jsonErrors: true });
}
