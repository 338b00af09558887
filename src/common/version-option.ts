import { CommanderError, Option } from "@commander-js/extra-typings";
import type { CliIo } from "./cli.js";

/**
 * `-V, --version` computed only when asked: commander's `.version()` wants its text up front, and the
 * text names the tfjs backend, which costs a few file lookups that `--help` and every command should skip.
 * Use: `.addOption(versionOption()).on("option:version", printVersion(io, text))`.
 */
export function versionOption(): Option<"-V, --version"> {
  return new Option("-V, --version", "print the version and the tfjs backend it uses");
}

/** The `option:version` listener: writes `text()` to stdout and stops parsing with exit code 0. */
export function printVersion(io: CliIo, text: () => string): () => never {
  return () => {
    const output = text();
    io.stdout(`${output}\n`);
    throw new CommanderError(0, "commander.version", output);
  };
}
