import { Command } from "@commander-js/extra-typings";
import { type CliIo, withStopSignal } from "../../common/cli.js";
import { InputError } from "../../common/errors.js";
import { createLogger, logSettings } from "../../common/log.js";
import { positiveInt } from "./positive-int.js";
import { servingFromFlags, withServingFlags } from "./serving-flags.js";

/**
 * `fbm-researcher relay`: one level of hierarchy. Serves nodes like a researcher and is itself a node
 * of the researcher at --upstream (src/researcher/relay/); runs until stopped (Ctrl-C, SIGTERM).
 */
export function relayCommand(io: CliIo, globals: () => { quiet?: true; verbose?: true; logFormat?: string }) {
  return withServingFlags(
    new Command("relay")
      .description(
        "serve nodes and answer an upstream researcher for them with one weighted update per round (FedAvg-style aggregators only)",
      )
      .requiredOption(
        "--upstream <url>",
        "the researcher this relay is a node of (https:// needs --upstream-fingerprint)",
      )
      .option("--id <id>", "the relay's node id upstream", "relay")
      .option("--name <name>", "the relay's name upstream (default: its id)")
      .option("--home <dir>", "folder of the relay's key pair upstream (created on first use)", "fbm-relay")
      .option("--upstream-fingerprint <sha256:…>", "the upstream researcher's certificate fingerprint (https://)")
      .option("--nodes <n>", "connect upstream once this many nodes are connected (they form its dataset)", "1")
      .option("--wait <seconds>", "connect upstream after this long even with fewer nodes", "60")
      .option("--round-timeout <seconds>", "how long the relay's nodes get for one round", "600"),
  ).action(async (options) => {
    const serving = servingFromFlags(options);
    const nodes = positiveInt(options.nodes, "--nodes");
    const waitMs = seconds(options.wait, "--wait");
    const roundTimeoutMs = seconds(options.roundTimeout, "--round-timeout");
    const logger = createLogger({ write: io.stderr, ...logSettings(globals()) });
    const { parseListen } = await import("../server/server.js");
    parseListen(options.listen ?? "127.0.0.1:50051");
    const { runRelay } = await import("../relay/run-relay.js");
    await withStopSignal(io.signal, (signal) =>
      runRelay({
        upstream: options.upstream,
        homeDir: options.home,
        id: options.id,
        name: options.name,
        upstreamFingerprint: options.upstreamFingerprint,
        listen: serving.listen ?? "127.0.0.1:50051",
        tls: serving.tls,
        allowList: serving.allowList,
        insecure: serving.insecure,
        nodes,
        waitMs,
        roundTimeoutMs,
        signal,
        log: logger.info,
      }),
    );
  });
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0)
    throw new InputError(`Invalid ${flag} "${text}": give a number of seconds above 0`);
  return n * 1000;
}
