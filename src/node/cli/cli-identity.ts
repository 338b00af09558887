import { Command } from "@commander-js/extra-typings";
import { readConfig } from "../config/home.js";
import { ensureNodeIdentity } from "../identity/identity.js";
import type { CliContext } from "./cli-context.js";

/**
 * `fbm-node identity`: the node's certificate fingerprint, which the researcher puts on its allow-list
 * (`fbm-researcher node allow FINGERPRINT --node-id ID`). Homes made before certificates get a key pair here.
 */
export function identityCommand(ctx: CliContext): Command {
  return new Command("identity")
    .description(
      "print the node id and the fingerprint of its TLS certificate (node.crt), for the researcher's allow-list",
    )
    .action(async () => {
      const dir = ctx.homeDir();
      const config = await readConfig(dir);
      const { identity, created } = await ensureNodeIdentity(dir, config.node_id);
      if (created) ctx.say(`Created the node's key pair: ${identity.certPath} (this home had none)`);
      const allow = `fbm-researcher node allow ${identity.fingerprint} --node-id ${config.node_id} --name ${JSON.stringify(config.name)}`;
      ctx.result(
        {
          node_id: config.node_id,
          name: config.name,
          fingerprint: identity.fingerprint,
          certificate: identity.certPath,
        },
        `node id:     ${config.node_id}\nfingerprint: ${identity.fingerprint}\ncertificate: ${identity.certPath}\n` +
          `The researcher allows this node with:\n  ${allow}`,
      );
    });
}
