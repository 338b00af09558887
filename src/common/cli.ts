import { type Command, CommanderError } from "@commander-js/extra-typings";
import { describeError } from "./errors.js";
import { type Problem, ValidationError } from "./validation.js";

/** Shared plumbing of both CLIs: output sinks, exit codes, stop signals. */

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Stops long-running commands; when absent they listen for SIGINT/SIGTERM themselves. */
  signal?: AbortSignal;
  /** Whether stderr is a terminal (live progress lines); default false. */
  isTty?: boolean;
  /** The terminal's width in columns when stderr is one (lines wrap to it); default 80. */
  columns?: number;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTty: process.stderr.isTTY === true,
  get columns() {
    return process.stderr.isTTY ? process.stderr.columns : undefined;
  },
};

/**
 * A reader that closes stdout early (`fbm-researcher predict … | head`) ends the command normally: exit 0
 * and nothing on stderr, as Unix tools end on SIGPIPE (Node ignores the signal and raises EPIPE on the
 * stream instead, which unhandled crashes with a stack trace). Any other stdout failure: one line, exit 1.
 */
export function endOnClosedStdout(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    process.stderr.write(`Error: Cannot write to stdout: ${error.message}\n`);
    process.exit(1);
  });
}

/**
 * Parses and runs `program` (built with `.exitOverride()`), returning the exit code README.md documents (Using it):
 * 0 ok, 2 usage or input, 1 runtime, 130 interrupted; errors print one line, stacks only with --debug.
 */
export async function runProgram(
  program: Command<any, any, any>,
  argv: string[],
  io: CliIo,
  options: { jsonErrors?: boolean } = {},
): Promise<number> {
  const flags = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  const jsonErrors = options.jsonErrors === true && flags.includes("--json");
  const fail = (message: string, exitCode: number, problems?: Problem[]) => {
    io.stderr(`Error: ${message}\n`);
    // Scripts reading stdout learn why it ended too: one `error` event, as a run's other events.
    if (jsonErrors) io.stdout(`${JSON.stringify({ event: "error", message, exit: exitCode, problems })}\n`);
    return exitCode;
  };
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      // `help` asked for (0), or a command group without its sub-command (help printed as an error): 2.
      if (error.code === "commander.help") return error.exitCode === 0 ? 0 : 2;
      return fail(usageMessage(error.message), 2);
    }
    const { message, exitCode } = describeError(error);
    const code = fail(message, exitCode, error instanceof ValidationError ? error.problems : undefined);
    if (argv.includes("--debug") && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
    return code;
  }
}

/** Commander's `error: unknown option '--x'\n(Did you mean --y?)` as one sentence with a hint. */
export function usageMessage(message: string): string {
  const text = message
    .replace(/^error: /, "")
    .replace(/\n\((Did you mean[^)]*)\)/, (_, hint: string) => `; ${hint.toLowerCase()}`);
  const line = text.replace(/\s*\n\s*/g, " ").trim();
  return `${line.charAt(0).toUpperCase()}${line.slice(1)} (see --help)`;
}

/** Runs `action` with a signal that aborts on SIGINT/SIGTERM (or the given one), removing the handlers after. */
export async function withStopSignal<T>(
  given: AbortSignal | undefined,
  action: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (given !== undefined) return action(given);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    return await action(controller.signal);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

/** Sub-commands built in other files do not see the program's exitOverride/output/help settings: copy them down. */
export function inheritSettings(parent: Command<any, any, any>): void {
  for (const child of parent.commands) {
    child.copyInheritedSettings(parent);
    inheritSettings(child);
  }
}
