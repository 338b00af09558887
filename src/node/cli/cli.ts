import { readFile } from "node:fs/promises";
import { Command } from "@commander-js/extra-typings";
import { type CliIo, inheritSettings, processIo, runProgram, withStopSignal } from "../../common/cli.js";
import { InputError, RuntimeFailure } from "../../common/errors.js";
import { type Logger, logSettings } from "../../common/log.js";
import { isLoopbackHost } from "../../common/loopback.js";
import { printVersion, versionOption } from "../../common/version-option.js";
import { versionText } from "../../ml/backend-probe.js";
import { getConfig, initHome, loadHome, readConfig, setConfig } from "../config/home.js";
import {
  configKeys,
  parseConfigValue,
  type ReadableKey,
  readableKeys,
  type SettableKey,
  settableKeys,
} from "../config/node-config.js";
import { readNodeIdentity } from "../identity/identity.js";
import type { ServeNode } from "../serve/serve-types.js";
import { type CliContext, createCliContext } from "./cli-context.js";
import { datasetCommand } from "./cli-dataset.js";
import { formatTable } from "./cli-format.js";
import { identityCommand } from "./cli-identity.js";
import { planCommand } from "./cli-plan.js";
import { taskCommand } from "./cli-task.js";

export type { CliIo } from "../../common/cli.js";

/** The `fbm-node` program. It never exits the process: errors surface from `parseAsync` (exitOverride). */
export function createNodeCli(io: CliIo = processIo): Command {
  const program = new Command("fbm-node")
    .description("A hospital node of fbm: keeps a catalogue of local datasets and trains plans for a researcher")
    .addOption(versionOption())
    .on("option:version", printVersion(io, versionText))
    .option("--home <dir>", "node home folder (default: $FBM_NODE_HOME, else ./fbm-node)")
    .option("--json", "machine output: one JSON value on stdout")
    .option("--debug", "print stack traces with errors")
    .option("--quiet", "log warnings and errors only (serve, gui)")
    .option("--verbose", "log debug lines too (serve, gui)")
    .option("--log-format <format>", "log lines as text (time, level, message) or json (one object per line)")
    .exitOverride()
    // Every command checks the logging flags, even one that never logs: `--log-format xml` is refused, not ignored.
    .hook("preAction", (cmd) => void logSettings(cmd.opts()))
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
  program.addCommand(taskCommand(ctx));
  program.addCommand(configCommand(ctx));

  program
    .command("serve")
    .description("connect to the researcher and train until SIGINT/SIGTERM")
    .option("--researcher <url>", "researcher URL (default: the config's)")
    .option("--gui", "serve the local web GUI too (as `fbm-node gui`), on --gui-listen")
    .option("--gui-listen <host:port>", `address of the GUI (implies --gui; default ${DEFAULT_GUI_LISTEN})`)
    .action(async (options) => {
      const homeDir = ctx.homeDir();
      const logger = ctx.logger();
      await (await loadHome(homeDir)).catalogue.close();
      const researcher =
        options.researcher === undefined ? undefined : String(parseConfigValue("researcher", options.researcher));
      const guiListen =
        options.gui || options.guiListen !== undefined
          ? parseGuiListen(options.guiListen ?? DEFAULT_GUI_LISTEN, "--gui-listen")
          : undefined;
      await withStopSignal(io.signal, async (signal) => {
        // Imported on demand: tfjs and the transport load only for `serve`.
        const { serveNode }: { serveNode: ServeNode } = await import("../serve/serve.js");
        // SIGHUP re-reads config.json, as daemons do (`systemctl reload fbm-node`).
        const reloadSignal = {
          on: (listener: () => void) => process.on("SIGHUP", listener),
          off: (listener: () => void) => process.off("SIGHUP", listener),
        };
        // The GUI works on the home's files as `fbm-node gui` does; it only shares this process.
        // A taken GUI port costs the GUI, not the node: it serves on with a warning.
        const gui =
          guiListen &&
          (await startGui(homeDir, guiListen, logger).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== "EADDRINUSE") throw error;
            logger.warn(
              `The GUI cannot listen on ${guiListen.host}:${guiListen.port}: the port is in use; the node serves without it (give --gui-listen another port, or run \`fbm-node gui --listen 127.0.0.1:PORT\` apart)`,
            );
            return undefined;
          }));
        try {
          await serveNode({ homeDir, researcher, signal, logger, reloadSignal });
        } finally {
          await gui?.close();
        }
      });
    });

  program
    .command("gui")
    .description(
      "serve the local web GUI (catalogue, plans, what the node is doing); prints a URL with an access token",
    )
    .option("--listen <host:port>", "address of the GUI (loopback unless you mean otherwise)", DEFAULT_GUI_LISTEN)
    .option("--print-url", "print the URL (with its token) of the GUI running for this home, and exit")
    .action(async (options) => {
      const homeDir = ctx.homeDir();
      if (options.printUrl) {
        const { guiUrlPath } = await import("../gui/server.js");
        const url = await readFile(guiUrlPath(homeDir), "utf8").catch(() => undefined);
        if (url === undefined)
          throw new RuntimeFailure(
            `No GUI is running for the home ${homeDir}: start one with \`fbm-node gui\` or \`fbm-node serve --gui\``,
          );
        io.stdout(url);
        return;
      }
      const logger = ctx.logger();
      const listen = parseGuiListen(options.listen, "--listen");
      await withStopSignal(io.signal, async (signal) => {
        const gui = await startGui(homeDir, listen, logger);
        logger.info("Open that URL in a browser on this machine; stop with Ctrl-C");
        await new Promise((done) => signal.addEventListener("abort", done, { once: true }));
        await gui.close();
        logger.info("Stopped");
      });
    });

  inheritSettings(program);
  return program;
}

const DEFAULT_GUI_LISTEN = "127.0.0.1:8585";

/** `HOST:PORT` of `gui --listen` or `serve --gui-listen` (`[v6]:PORT` for IPv6). */
function parseGuiListen(text: string, flag: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || port > 65535)
    throw new InputError(
      `Invalid ${flag} "${text}": give HOST:PORT like ${DEFAULT_GUI_LISTEN} (port 0: any free port)`,
    );
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

/** Starts the GUI (`gui`, `serve --gui`) and logs its URL with the access token. */
async function startGui(homeDir: string, listen: { host: string; port: number }, logger: Logger) {
  if (!isLoopbackHost(listen.host))
    logger.warn(`The GUI listens on ${listen.host}, beyond this machine: anyone with the token can change this node`);
  const { startGuiServer } = await import("../gui/server.js");
  const gui = await startGuiServer({ homeDir, ...listen, log: logger.info });
  logger.info(`GUI listening on ${gui.url}`);
  return gui;
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
      "print one config value (keys: node_id, created_at, plan_approval, max_params, threads, min_count, stats_minmax, max_epsilon, dp_delta, require_secagg, secagg_min_nodes, secagg_verify, secagg_peers, max_updates, max_epochs, max_task_seconds, min_batch_size, max_batch_size, min_test_ratio, min_dp_sigma, max_task_flops, researcher, researcher_cert, researcher_fingerprint, name)",
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
      "change one config value (keys: plan_approval true|false, max_params N, threads auto|N, min_count N, stats_minmax true|false, max_epsilon E|none, dp_delta D, require_secagg true|false, secagg_min_nodes N, secagg_verify true|false, max_updates N, max_epochs N, max_task_seconds S, min_batch_size N, max_batch_size N, min_test_ratio R, min_dp_sigma S, max_task_flops N, secagg_peers tofu|pinned, researcher URL, researcher_cert PATH, researcher_fingerprint sha256:…, name)",
    )
    .argument("<key>")
    .argument("<value>")
    .action(async (key, value) => {
      const next = await setConfig(ctx.homeDir(), key, value);
      const stored = next[key as keyof typeof next];
      const when = configKeys[key as SettableKey].live
        ? "a running `fbm-node serve` applies it from its next task"
        : "restart `fbm-node serve` for it to take effect";
      ctx.result({ [key]: stored }, `Set ${key} = ${String(stored)} (${when})`);
    });
  config
    .command("list")
    .description("every config key, its value and meaning (--json: an object of key → value)")
    .action(async () => {
      const values = await readConfig(ctx.homeDir());
      const shown = (key: ReadableKey) => (values[key] === undefined ? "" : String(values[key]));
      ctx.result(
        Object.fromEntries(readableKeys.map((key) => [key, values[key] ?? null])),
        formatTable(
          ["KEY", "VALUE", "APPLIES", "MEANING"],
          readableKeys.map((key) => [
            key,
            shown(key),
            settableKeys.includes(key as SettableKey) ? (configKeys[key].live ? "live" : "on restart") : "read-only",
            configKeys[key].meaning,
          ]),
        ),
      );
    });
  return config;
}
