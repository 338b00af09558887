import type { Logger } from "../../common/log.js";
import type { ExperimentEvent } from "../run/events.js";

/**
 * Human output of a run on stderr: a line per round (nodes, loss, metrics), node arrivals and
 * failures; on a terminal the current round's training progress is one line rewritten in place.
 */
export function createProgressPrinter(
  write: (text: string) => void,
  options: { isTty?: boolean; logger?: Logger } = {},
) {
  let live = false;
  const progress = new Map<string, string>();
  const line = (text: string, level: "info" | "warn") => {
    if (live) write("\r\x1b[2K");
    live = false;
    if (options.logger) options.logger[level](text);
    else write(`${text}\n`);
  };
  return (e: ExperimentEvent): void => {
    if (e.event !== "progress") {
      if (e.event === "round") progress.clear();
      line(describe(e), e.event === "error" ? "warn" : "info");
      return;
    }
    if (!options.isTty) return;
    progress.set(e.name, `${e.name} ${Math.round((100 * e.step) / Math.max(1, e.total_steps))}%`);
    write(`\r\x1b[2Kround ${e.round}: ${[...progress.values()].join("  ")}  loss ${e.loss.toFixed(4)}`);
    live = true;
  };
}

/** The line (or lines) an event prints; progress is shown apart, rewritten in place. */
function describe(e: Exclude<ExperimentEvent, { event: "progress" }>): string {
  switch (e.event) {
    case "listening":
      return `Researcher listening on ${e.url}; waiting for nodes`;
    case "node":
      return `Node ${e.name} ${e.state === "connected" ? "connected" : "lost"} (${e.node})`;
    case "datasets":
      return `Training on ${e.nodes.length} node(s): ${e.nodes.map((n) => `${n.name} (${n.samples} samples)`).join(", ")}`;
    case "normalization":
      return `Normalization: ${e.method} over ${e.columns.length} column(s), statistics from all nodes`;
    case "round": {
      const metrics = Object.entries(e.metrics)
        .map(
          ([when, values]) =>
            `${when}: ${Object.entries(values ?? {})
              .map(([k, v]) => `${k} ${v.toFixed(3)}`)
              .join(" ")}`,
        )
        .join("  ");
      const failed = e.failed.length ? `  (${e.failed.length} failed)` : "";
      return `round ${String(e.round).padStart(String(e.rounds).length)}/${e.rounds}  nodes ${e.nodes.length}${failed}  loss ${e.loss.toFixed(4)}  ${metrics}  ${e.seconds.toFixed(1)} s`;
    }
    case "error":
      return `${e.round ? `round ${e.round}: ` : ""}${e.message}`;
    case "done": {
      const metrics = Object.entries(e.metrics)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join("  ");
      return `Done after ${e.rounds} round(s). Final model: ${e.model}${metrics ? `\nFinal validation: ${metrics}` : ""}`;
    }
  }
}
