import { InputError } from "../../common/errors.js";
import type { ResearcherTls } from "../server/server-tls.js";

/** What `runStats` (and `fbm-researcher stats`) is asked. */
export interface StatsOptions {
  /** Datasets must carry all of these tags (one dataset per node: the oldest, as experiments pick). */
  tags: string[];
  /** Columns to describe (default: every column of each node's dataset; "pixels" for images). */
  columns?: string[];
  /** Default 0.25, 0.5, 0.75. */
  quantiles?: number[];
  /** Histogram bins (default 10). */
  bins?: number;
  /** Stop waiting once this many nodes hold a matching dataset. */
  nodes?: number;
  /** How long to wait for nodes (default 10 s). */
  waitSeconds?: number;
  /** Where nodes connect (default 127.0.0.1:50051; port 0 picks a free one). */
  listen?: string;
  tls?: ResearcherTls;
  /** Cleartext: the allow-list the nodes' signing keys must be on (with TLS it is part of `tls`). */
  allowList?: string;
  /** Serve cleartext beyond loopback (`--insecure`). */
  insecure?: boolean;
  signal?: AbortSignal;
  /** Progress lines for a person (the listening address first). */
  log?: (line: string) => void;
}

export const DEFAULT_QUANTILES = [0.25, 0.5, 0.75];
export const DEFAULT_BINS = 10;
export const MAX_BINS = 1000;

/** The options with defaults filled in, or an InputError naming what is wrong. */
export function checkStatsOptions(
  options: StatsOptions,
): Required<Pick<StatsOptions, "tags" | "quantiles" | "bins" | "waitSeconds" | "listen">> & StatsOptions {
  const tags = options.tags.map((t) => t.trim()).filter(Boolean);
  if (tags.length === 0)
    throw new InputError("Statistics need --tags: the tags of the datasets to describe, e.g. --tags heart");
  const quantiles = options.quantiles ?? DEFAULT_QUANTILES;
  for (const q of quantiles) {
    if (!(Number.isFinite(q) && q >= 0 && q <= 1))
      throw new InputError(`Invalid quantile "${q}": give numbers from 0 to 1, e.g. --quantiles 0.25,0.5,0.75`);
  }
  const bins = options.bins ?? DEFAULT_BINS;
  if (!(Number.isInteger(bins) && bins >= 1 && bins <= MAX_BINS))
    throw new InputError(`Invalid --bins "${bins}": give a whole number from 1 to ${MAX_BINS}`);
  const waitSeconds = options.waitSeconds ?? 10;
  if (!(waitSeconds > 0)) throw new InputError(`Invalid --wait "${waitSeconds}": give a number of seconds above 0`);
  if (options.nodes !== undefined && !(Number.isInteger(options.nodes) && options.nodes >= 1)) {
    throw new InputError(`Invalid --nodes "${options.nodes}": give a whole number above 0`);
  }
  const columns = options.columns?.map((c) => c.trim()).filter(Boolean);
  return {
    ...options,
    tags,
    quantiles: [...new Set(quantiles)],
    bins,
    waitSeconds,
    listen: options.listen ?? "127.0.0.1:50051",
    columns: columns?.length ? columns : undefined,
  };
}
