import { errorMessage } from "../../common/errors.js";
import { formatDuration } from "../../common/log.js";
import { MAX_CLOCK_SKEW_MS, SIGNATURE_HEADERS } from "../../wire/index.js";

/**
 * Signed calls the researcher refused, by node: each node's refusal is logged once as a warning (a node
 * whose clock is off retries every few seconds: one line, not one per call), and `datasets` can say at
 * the end why a node it refused is missing from its listing.
 */
export interface Refusals {
  /** Records that a call carrying `header` was refused with `error`; logs it the first time for its node. */
  note(header: Headers, error: unknown, now?: number): void;
  /** One line per refused node: "node-a: its clock is 7 min ahead of the researcher's …". */
  lines(): string[];
}

const MAX_NODES = 10_000; // the memory a flood of made-up node ids can take

export function createRefusals(log?: (line: string) => void): Refusals {
  const byNode = new Map<string, string>();
  return {
    note(header, error, now = Date.now()) {
      const nodeId = (header.get(SIGNATURE_HEADERS.nodeId) ?? "").slice(0, 128) || "(no node id)";
      if (byNode.has(nodeId) || byNode.size >= MAX_NODES) return;
      const time = Number(header.get(SIGNATURE_HEADERS.time) ?? NaN);
      const skew = Number.isFinite(time) ? time - now : 0;
      const why =
        Math.abs(skew) > MAX_CLOCK_SKEW_MS
          ? `its clock is ${formatDuration(Math.abs(skew))} ${skew > 0 ? "ahead of" : "behind"} the researcher's ` +
            `(at most ${formatDuration(MAX_CLOCK_SKEW_MS)} allowed); fix: set the node's clock (NTP)`
          : errorMessage(error)
              .replace(/^\[\w+\] /, "")
              .replace(/^Refused a signed request: /, "");
      byNode.set(nodeId, why);
      log?.(`Warning: refused the signed calls of node ${nodeId}: ${why}`);
    },
    lines: () => [...byNode].map(([nodeId, why]) => `${nodeId}: ${why}`),
  };
}
