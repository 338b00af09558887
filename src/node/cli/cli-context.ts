import type { CliIo } from "../../common/cli.js";
import { createLogger, type Logger, logSettings } from "../../common/log.js";
import { resolveHome } from "../config/home.js";

/** Options every command takes. */
export interface GlobalOptions {
  home?: string;
  json?: true;
  debug?: true;
  quiet?: true;
  verbose?: true;
  logFormat?: string;
}

/** What each command needs from the program: output and the global options. */
export interface CliContext {
  io: CliIo;
  globals(): GlobalOptions;
  /** The absolute home folder (`--home`, `$FBM_NODE_HOME`, `./fbm-node`). */
  homeDir(): string;
  /** The command's result: JSON on stdout with `--json`, else `human` (if any) on stderr. */
  result(value: unknown, human?: string): void;
  /** A human message on stderr. */
  say(line: string): void;
  /** The log of long-running commands, as `--quiet/--verbose/--log-format` ask (validated here). */
  logger(): Logger;
}

export function createCliContext(io: CliIo, globals: () => GlobalOptions): CliContext {
  return {
    io,
    globals,
    homeDir: () => resolveHome(globals().home),
    result(value, human) {
      if (globals().json) io.stdout(`${JSON.stringify(value)}\n`);
      else if (human !== undefined) io.stderr(`${human}\n`);
    },
    say(line) {
      io.stderr(`${line}\n`);
    },
    logger: () => createLogger({ write: io.stderr, ...logSettings(globals()) }),
  };
}
