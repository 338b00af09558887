import { InputError } from "./errors.js";

/**
 * The log of both long-running commands (`fbm-node serve`, `fbm-researcher EXPERIMENT`): one line per
 * event with its ISO time and level, or one JSON object per line for log collectors (journald, Loki…).
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
/** `--quiet`: warnings and errors only; `--verbose`: debug lines too. */
export type Verbosity = "quiet" | "normal" | "verbose";

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * Logs `message` the first time `key` is seen, then at most once per `everyMs` while it keeps being
   * reported (a condition that holds on every poll is one line, then a reminder, not a flood).
   */
  throttled(key: string, everyMs: number, level: LogLevel, message: string): void;
}

export interface LoggerOptions {
  /** Where lines go (stderr). */
  write: (text: string) => void;
  format?: LogFormat;
  verbosity?: Verbosity;
  now?: () => Date;
}

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const lowest: Record<Verbosity, LogLevel> = { quiet: "warn", normal: "info", verbose: "debug" };

export function createLogger(options: LoggerOptions): Logger {
  const now = options.now ?? (() => new Date());
  const min = rank[lowest[options.verbosity ?? "normal"]];
  const lastSaid = new Map<string, number>();
  const log = (level: LogLevel, message: string) => {
    if (rank[level] < min) return;
    const time = now().toISOString();
    options.write(
      options.format === "json"
        ? `${JSON.stringify({ time, level, msg: message })}\n`
        : `${time} ${level.toUpperCase().padEnd(5)} ${message}\n`,
    );
  };
  return {
    debug: (m) => log("debug", m),
    info: (m) => log("info", m),
    warn: (m) => log("warn", m),
    error: (m) => log("error", m),
    throttled(key, everyMs, level, message) {
      const at = now().getTime();
      const last = lastSaid.get(key);
      if (last !== undefined && at - last < everyMs) return;
      lastSaid.set(key, at);
      log(level, message);
    },
  };
}

/** The logging flags of a command, as commander parsed them. */
export interface LogFlags {
  quiet?: true;
  verbose?: true;
  logFormat?: string;
}

/** Turns `--quiet/--verbose/--log-format` into logger options, refusing contradictions and unknown formats. */
export function logSettings(flags: LogFlags): { format: LogFormat; verbosity: Verbosity } {
  if (flags.quiet && flags.verbose) throw new InputError("--quiet and --verbose contradict each other: give one");
  const format = flags.logFormat ?? "text";
  if (format !== "text" && format !== "json")
    throw new InputError(`Invalid --log-format "${format}": give text or json`);
  return { format, verbosity: flags.quiet ? "quiet" : flags.verbose ? "verbose" : "normal" };
}

/** How long until `ms` from now, for people: "9 min 58 s", "42 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
}
