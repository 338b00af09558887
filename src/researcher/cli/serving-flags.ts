import type { Command, OptionValues } from "@commander-js/extra-typings";
import { InputError } from "../../common/errors.js";
import { DEFAULT_ALLOW_LIST } from "../server/allow-list.js";
import type { ResearcherTls } from "../server/server-tls.js";

/**
 * The serving flags of every command that serves nodes (run, datasets, stats, analyze), declared once
 * so they cannot drift apart again (stats once lacked --insecure and dropped --allow-list on cleartext):
 * `withServingFlags` adds them to a command, `servingFromFlags` turns them into the server's options.
 */

/** Adds --listen, --cert, --key, --allow-list and --insecure to `command`. */
export function withServingFlags<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(
  command: Command<Args, Opts, Globals>,
) {
  return command
    .option("--listen <host:port>", "address nodes connect to", "127.0.0.1:50051")
    .option("--cert <file>", "serve HTTPS with this certificate (fbm-researcher cert generate); nodes need mutual TLS")
    .option("--key <file>", "private key of --cert")
    .option(
      "--allow-list <file>",
      "nodes accepted: their certificates with --cert (default: fbm-researcher/allowed-nodes.json), else their signing keys",
    )
    .option(
      "--insecure",
      "allow cleartext (no --cert) on an address beyond this machine; nodes still sign their calls",
    );
}

/** `--cert/--key/--allow-list` as given to a serving command: TLS files, or undefined for cleartext. */
export function tlsFromFlags(flags: { cert?: string; key?: string; allowList?: string }): ResearcherTls | undefined {
  // Without --cert, an --allow-list applies to the keys nodes sign with (see signerAllowListFromFlags).
  if (!flags.cert && !flags.key) return undefined;
  if (!flags.cert || !flags.key)
    throw new InputError(
      `--${flags.cert ? "key" : "cert"} is missing: TLS needs both --cert and --key (fbm-researcher cert generate makes them)`,
    );
  return { cert: flags.cert, key: flags.key, allowList: flags.allowList ?? DEFAULT_ALLOW_LIST };
}

/** Cleartext (no --cert): the --allow-list file, if given, that nodes' signing keys must be on. */
export function signerAllowListFromFlags(flags: {
  cert?: string;
  key?: string;
  allowList?: string;
}): string | undefined {
  return !flags.cert && !flags.key ? flags.allowList : undefined;
}

/**
 * What every serving command (run, datasets, stats, analyze) takes from its serving flags, so none of
 * them can drop one: TLS with --cert/--key, else the --allow-list of signing keys, and --insecure.
 */
export function servingFromFlags(flags: {
  listen?: string;
  cert?: string;
  key?: string;
  allowList?: string;
  insecure?: boolean;
}): { listen?: string; tls?: ResearcherTls; allowList?: string; insecure: boolean } {
  return {
    listen: flags.listen,
    tls: tlsFromFlags(flags),
    allowList: signerAllowListFromFlags(flags),
    insecure: flags.insecure === true,
  };
}
