import type { Logger } from "../../common/log.js";

/** What `fbm-node serve` hands to `serveNode` (src/node/serve/serve.ts). */
export interface ServeOptions {
  /** Absolute node home folder (config.json, catalogue.json). */
  homeDir: string;
  /** Overrides the config's researcher URL for this run (already validated). */
  researcher?: string;
  /** Aborted on SIGINT/SIGTERM: finish or drop the current task, close streams, resolve. */
  signal: AbortSignal;
  /** The operator's log (stderr): time, level, message (common/log.ts). */
  logger: Logger;
  /** Re-read config.json when this emits (SIGHUP); the file is watched anyway. */
  reloadSignal?: { on(listener: () => void): void; off(listener: () => void): void };
}

/** Connects to the researcher and pulls tasks until `signal` aborts. */
export type ServeNode = (options: ServeOptions) => Promise<void>;
