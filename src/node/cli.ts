import { Command } from "@commander-js/extra-typings";
import { type CliIo, inheritSettings, processIo, runProgram, withStopSignal } from "../common/cli.js";
import { printVersion, versionOption } from "../common/version-option.js";
import { versionText } from "../ml/backend-probe.js";
import { type CliContext, createCliContext } from "./cli-context.js";
import { datasetCommand } from "./cli-dataset.js";
import { identityCommand } from "./cli-identity.js";
import { planCommand } from "./cli-plan.js";
import { getConfig, initHome, loadHome, setConfig } from "./home.js";
import { readNodeIdentity } from "./identity.js";
import { parseConfigValue } from "./node-config.js";
import type { ServeNode } from "./serve-types.js";

export type { CliIo } from "../common/cli.js";

/** The `fbm-node` program. It never exits the process: errors surface from `parseAsync` (exitOverride). */
export function createNodeCli(io: CliIo = processIo): Command {
  const program = new Command("fbm-node")
    .description("A hospital node of fbm: keeps a catalogue of local datasets and trains plans for a researcher")
    .addOption(versionOption())
    .on("option:version", printVersion(io, versionText))
    .option("--home <dir>", "node home folder (default: $FBM_NODE_HOME, else ./fbm-node)")
    .option("--json", "machine output: one JSON value on stdout")
    .option("--debug", "print stack traces with errors")
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
  const ctx = createCliContext(io, () => program.opts());

  program
    .command("init")
    .description(
      "create the node home: config.json, an empty catalogue and the node's TLS key pair (node.key, node.crt)",
    )
    .option("--name <name>", "node name shown to researchers (default: the host name)")
    .option("--researcher <url>", "researcher URL (default: http://127.0.0.1:50051)")
    .action(async (options) => {
      const dir = ctx.homeDir();
      const config = await initHome(dir, options);
      const fingerprint = (await readNodeIdentity(dir))?.fingerprint;
      ctx.result(
        { home: dir, ...config, fingerprint },
        `Created node home ${dir}\nnode id: ${config.node_id}\nfingerprint: ${fingerprint}`,
      );
    });

  program.addCommand(datasetCommand(ctx));
  program.addCommand(planCommand(ctx));
  program.addCommand(identityCommand(ctx));
  program.addCommand(configCommand(ctx));

  program
    .command("serve")
    .description("connect to the researcher and train until SIGINT/SIGTERM")
    .option("--researcher <url>", "researcher URL (default: the config's)")
    .action(async (options) => {
      const homeDir = ctx.homeDir();
      await (await loadHome(homeDir)).catalogue.close();
      const researcher =
        options.researcher === undefined ? undefined : String(parseConfigValue("researcher", options.researcher));
      await withStopSignal(io.signal, async (signal) => {
        // Imported on demand: tfjs and the transport load only for `serve`.
        const { serveNode }: { serveNode: ServeNode } = await import("./serve.js");
        await serveNode({ homeDir, researcher, signal, log: (line) => ctx.say(line) });
      });
    });

  inheritSettings(program);
  return program;
}

/** Runs `fbm-node` with `argv` (without node and script) and returns the exit code: 0, 1 runtime, 2 usage/input. */
export function runNodeCli(argv: string[], io: CliIo = processIo): Promise<number> {
  return runProgram(createNodeCli(io), argv, io);
}

function configCommand(ctx: CliContext): Command {
  const config = new Command("config").description("read or change the node config");
  config
    .command("get")
    .description(
      "print one config value (keys: node_id, created_at, plan_approval, max_params, threads, min_count, stats_minmax, researcher, researcher_cert, researcher_fingerprint, name)",
    )
    .argument("<key>")
    .action(async (key) => {
      const value = await getConfig(ctx.homeDir(), key);
      if (ctx.globals().json) ctx.result(value);
      else ctx.io.stdout(`${String(value)}\n`);
    });
  config
    .command("set")
    .description(
      "change one config value (keys: plan_approval true|false, max_params N, threads auto|N, min_count N, stats_minmax true|false, researcher URL, researcher_cert PATH, researcher_fingerprint sha256:…, name)",
    )
    .argument("<key>")
    .argument("<value>")
    .action(async (key, value) => {
      const next = await setConfig(ctx.homeDir(), key, value);
      const stored = next[key as keyof typeof next];
      ctx.result({ [key]: stored }, `Set ${key} = ${String(stored)}`);
    });
  return config;
}
