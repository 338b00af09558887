import { hostname } from "node:os";
import { Command } from "@commander-js/extra-typings";
import type { CliIo } from "../../common/cli.js";
import { InputError } from "../../common/errors.js";
import { DEFAULT_ALLOW_LIST } from "../server/allow-list.js";

/**
 * `fbm-researcher cert generate | fingerprint` and `node allow | list`: the researcher's key pair and
 * the allow-list of node certificates used by `--cert/--key` (mutual TLS).
 */

/** Default folder of the researcher's certificate, key and allow-list. */
export const DEFAULT_TRUST_DIR = "fbm-researcher";

export function trustCommands(io: CliIo, globals: () => { json?: true }): Command<any, any, any>[] {
  const json = (options: { json?: true }) => options.json === true || globals().json === true;
  const result = (options: { json?: true }, value: unknown, human: string) => {
    if (json(options)) io.stdout(`${JSON.stringify(value)}\n`);
    else io.stderr(`${human}\n`);
  };

  const cert = new Command("cert").description("the researcher's TLS certificate");
  cert
    .command("generate")
    .description(
      "make a self-signed key pair: researcher.crt and researcher.key (mode 0600); prints the fingerprint nodes pin",
    )
    .option("--out <dir>", "folder to write them to", DEFAULT_TRUST_DIR)
    .option(
      "--host <names>",
      "host names and IP addresses nodes use to reach this researcher, comma-separated",
      `localhost,127.0.0.1,::1,${hostname()}`,
    )
    .option("--days <n>", "validity in days", "3650")
    .option("--force", "replace an existing pair (every node must then pin the new fingerprint)")
    .option("--json", "print the fingerprint and paths as JSON on stdout")
    .action(async (options) => {
      const days = Number(options.days);
      if (!Number.isInteger(days) || days < 1)
        throw new InputError(`Invalid --days "${options.days}": give a whole number of days`);
      const hosts = [
        ...new Set(
          options.host
            .split(",")
            .map((h) => h.trim())
            .filter(Boolean),
        ),
      ];
      const { generateKeyPair } = await import("../../common/certificates.js");
      const { writeKeyPair } = await import("../../common/key-files.js");
      const pair = await generateKeyPair({ commonName: "fbm researcher", hosts, days });
      const paths = await writeKeyPair(options.out, "researcher", pair, { force: options.force === true });
      result(
        options,
        { fingerprint: pair.fingerprint, cert: paths.cert, key: paths.key, hosts },
        [
          `Wrote ${paths.cert} and ${paths.key} (keep the key secret)`,
          `fingerprint: ${pair.fingerprint}`,
          "Each node pins it with:",
          `  fbm-node config set researcher_fingerprint ${pair.fingerprint}`,
        ].join("\n"),
      );
    });
  cert
    .command("fingerprint")
    .description("print the sha256 fingerprint of a PEM certificate (a node.crt or researcher.crt)")
    .argument("<file>")
    .option("--json", 'print {"fingerprint": …} on stdout')
    .action(async (file, options) => {
      const { fingerprintOfPem } = await import("../../common/certificates.js");
      const { readPem } = await import("../../common/key-files.js");
      const fingerprint = fingerprintOfPem(await readPem(file, "the certificate"), file);
      if (json(options)) io.stdout(`${JSON.stringify({ fingerprint })}\n`);
      else io.stdout(`${fingerprint}\n`);
    });

  const node = new Command("node").description("the nodes this researcher accepts over mutual TLS");
  node
    .command("allow")
    .description("add a node's certificate fingerprint (from `fbm-node identity`) to the allow-list")
    .argument("<fingerprint>", "sha256:… as the node printed it (colons and upper case are fine)")
    .option("--name <name>", "a label for the node")
    .option("--node-id <id>", "bind the certificate to this node id (else: the first node id it uses)")
    .option("--allow-list <file>", "allow-list file", DEFAULT_ALLOW_LIST)
    .option("--json", "print the new entry as JSON on stdout")
    .action(async (fingerprint, options) => {
      const { allowNode } = await import("../server/allow-list.js");
      const { entry, replaced } = await allowNode(options.allowList, {
        fingerprint,
        name: options.name,
        node_id: options.nodeId,
      });
      result(
        options,
        { ...entry, allow_list: options.allowList, replaced },
        `${replaced ? "Updated" : "Allowed"} ${entry.fingerprint}${entry.name ? ` (${entry.name})` : ""}${entry.node_id ? ` as ${entry.node_id}` : ""} in ${options.allowList}`,
      );
    });
  node
    .command("list")
    .description("print the allow-list")
    .option("--allow-list <file>", "allow-list file", DEFAULT_ALLOW_LIST)
    .option("--json", "print the entries as a JSON array on stdout")
    .action(async (options) => {
      const { readAllowList } = await import("../server/allow-list.js");
      const entries = readAllowList(options.allowList, { missingOk: true });
      const lines = entries.map((e) => `${e.fingerprint}  ${e.node_id ?? "(any node id)"}  ${e.name ?? ""}`.trimEnd());
      result(options, entries, entries.length ? lines.join("\n") : `No nodes allowed in ${options.allowList}`);
    });
  node
    .command("unbind")
    .description(
      "release a node id bound to a key in a run folder's node-keys.json (a run without allow-list binds each id to the first key that signs for it); stop the run first, then --resume",
    )
    .argument("<node-id>", "the node id to release")
    .requiredOption("--run <dir>", "the run folder (runs/<name>)")
    .option("--json", "print what was released as JSON on stdout")
    .action(async (nodeId, options) => {
      const { unbindNode } = await import("../run/node-keys.js");
      const fingerprint = await unbindNode(options.run, nodeId);
      result(
        options,
        { node_id: nodeId, fingerprint, run: options.run },
        `Released node id ${nodeId} (was bound to ${fingerprint}) in ${options.run}: the next key that signs for it with --resume takes it`,
      );
    });
  return [cert, node];
}
