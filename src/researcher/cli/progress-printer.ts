import type { Logger } from "../../common/log.js";
import { WIDE_AUC_BOUND } from "../../ml/metric-counts.js";
import type { ExperimentEvent } from "../run/events.js";

/** Lines never exceed this many columns unless the terminal is wider (long lines wrap with an indent). */
export const COLUMNS = 80;
const BAR = 20;
/** `2026-01-01T00:00:00.000Z INFO  ` before each logged line. */
const LOG_PREFIX = 31;

/**
 * Human output of a run on stderr (through the logger when given): a line per round (nodes, loss,
 * metrics), node arrivals and failures. On a terminal, figures wrap to the terminal's width (messages stay whole)
 * and the round being trained shows one progress bar per node, redrawn in place below the last line.
 */
export function createProgressPrinter(
  write: (text: string) => void,
  options: { isTty?: boolean; logger?: Logger; columns?: number } = {},
) {
  const bars = new Map<string, string>();
  let drawn = 0;
  const erase = () => {
    if (drawn > 0) write(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  // A terminal gets lines that fit it (its width, 40 columns at least; else 80): the logger's time and
  // level take LOG_PREFIX columns.
  const columns = Math.max(40, options.columns ?? COLUMNS);
  const width = Math.max(40, options.logger ? columns - LOG_PREFIX : columns);
  const line = (text: string, level: "info" | "warn", wrapped: boolean) => {
    erase();
    const shown = wrapped && options.isTty ? wrap(text, width) : text;
    if (options.logger) options.logger[level](shown);
    else write(`${shown}\n`);
    if (bars.size > 0 && options.isTty) draw();
  };
  const draw = () => {
    erase();
    write([...bars.values()].map((b) => `${b}\n`).join(""));
    drawn = bars.size;
  };
  const print = (e: ExperimentEvent): void => {
    if (e.event !== "progress") {
      if (e.event === "round" || e.event === "done") bars.clear();
      // Figures wrap; messages (errors, addresses) stay whole so their commands and ids can be copied.
      line(
        describe(e),
        e.event === "error" ? "warn" : "info",
        e.event === "round" || e.event === "datasets" || e.event === "done",
      );
      return;
    }
    if (!options.isTty) return;
    bars.set(e.node, progressBar(e));
    draw();
  };
  return Object.assign(print, { log: (text: string) => line(text, "info", false) });
}

/** `hospital-a  ██████░░░░  30%  step 3/10  loss 0.4321`, at most 79 columns. */
export function progressBar(e: Extract<ExperimentEvent, { event: "progress" }>): string {
  const share = Math.min(1, e.step / Math.max(1, e.total_steps));
  const full = Math.round(share * BAR);
  const bar = "█".repeat(full) + "░".repeat(BAR - full);
  const name = e.name.length > 16 ? `${e.name.slice(0, 15)}…` : e.name.padEnd(16);
  const text = `${name} ${bar} ${String(Math.round(share * 100)).padStart(3)}%  round ${e.round}  step ${e.step}/${e.total_steps}${lossText(e.loss)}`;
  return text.length < COLUMNS ? text : `${text.slice(0, COLUMNS - 2)}…`;
}

/**
 * Wraps each line to `width` columns at its double-space separators (else at spaces); continuation
 * lines are indented by four spaces.
 */
export function wrap(text: string, width = COLUMNS): string {
  return text
    .split("\n")
    .map((input) => {
      if (input.length <= width) return input;
      // Groups are separated by two spaces; a group too long for a line breaks at its single spaces.
      const words = input
        .split(/(?<=\S) {2,}(?=\S)/)
        .flatMap((group) =>
          group.length > width - 4
            ? group.split(" ").map((text, i) => ({ text, sep: i === 0 ? "  " : " " }))
            : [{ text: group, sep: "  " }],
        );
      const out: string[] = [];
      let current = "";
      for (const { text, sep } of words) {
        if (current === "") current = text;
        else if (current.length + sep.length + text.length > width) {
          out.push(current);
          current = `    ${text}`;
        } else current = `${current}${sep}${text}`;
      }
      if (current) out.push(current);
      return out.join("\n");
    })
    .join("\n");
}

/** The line (or lines) an event prints; progress is shown apart, redrawn in place. */
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
    case "preparation":
      return `Table preparation from all nodes: ${e.columns
        .map((c) => (c.kind === "onehot" ? `${c.name} (${c.categories?.length ?? 0} categories + other)` : c.name))
        .join(", ")}`;
    case "round": {
      const metrics = Object.entries(e.metrics)
        .map(
          ([when, values]) =>
            `${when}: ${Object.entries(values ?? {})
              .map(([k, v]) =>
                k === "auc" ? aucText(v, e.auc_error?.[when as "global" | "local"], 3) : `${k} ${v.toFixed(3)}`,
              )
              .join(" ")}`,
        )
        .join("  ");
      const failed = e.failed.length ? `  (${e.failed.length} failed)` : "";
      return `round ${String(e.round).padStart(String(e.rounds).length)}/${e.rounds}  nodes ${e.nodes.length}${failed}${lossText(e.loss)}  ${metrics}${epsilonText(e.privacy)}  ${e.seconds.toFixed(1)} s`;
    }
    case "error":
      return `${e.round ? `round ${e.round}: ` : ""}${e.message}`;
    case "done": {
      const metrics = Object.entries(e.metrics)
        .map(([k, v]) => (k === "auc" ? aucText(v, e.auc_error, 4) : `${k} ${v.toFixed(4)}`))
        .join("  ");
      const wide =
        e.metrics.auc !== undefined && (e.auc_error ?? 0) > WIDE_AUC_BOUND
          ? `\nThe pooled auc is an estimate, known only within ±${e.auc_error?.toFixed(3)}: test scores leave each node in runs of min_count rows. For a narrower bound raise training.test_ratio (more test rows per node) or have the nodes lower min_count (fbm-node config set min_count N).`
          : "";
      const privacy = e.privacy
        ? `\nPrivacy spent: ε ${e.privacy.epsilon.toFixed(2)}, δ ${e.privacy.delta.toExponential(0)} (${e.privacy.mode} dp${e.privacy.mode === "local" ? ", the largest over the nodes" : ""})`
        : "";
      return `Done after ${e.rounds} round(s). Final model: ${e.model}${metrics ? `\nFinal validation: ${metrics}` : ""}${privacy}${wide}`;
    }
  }
}

/**
 * `auc 0.912`, `auc 0.912±0.012` when the bound reaches the printed digits, `auc ≈0.912 (±0.190)` when
 * it is wider than WIDE_AUC_BOUND: the figure is then an estimate, not a headline.
 */
function aucText(value: number, bound: number | undefined, digits: number): string {
  if (bound === undefined || bound < 0.5 * 10 ** -digits) return `auc ${value.toFixed(digits)}`;
  if (bound > WIDE_AUC_BOUND) return `auc ≈${value.toFixed(3)} (±${bound.toFixed(3)})`;
  return `auc ${value.toFixed(digits)}±${bound.toFixed(digits)}`;
}

/** "  ε 1.23" spent so far under dp (local: the largest over the nodes), else nothing. */
function epsilonText(privacy: { epsilon: number } | undefined): string {
  return privacy ? `  ε ${privacy.epsilon.toFixed(2)}` : "";
}

/** "  loss 0.4321", or nothing when the nodes withheld it (under dp): absent, never shown as NaN or 0. */
function lossText(loss: number | undefined): string {
  return loss === undefined ? "" : `  loss ${loss.toFixed(4)}`;
}
