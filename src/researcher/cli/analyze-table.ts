import type { AnalyzeResult, NodeUse } from "../analyze/analyze-result.js";

/** One analysis of `fbm-researcher analyze` as a clinician reads it (stderr): coefficients with CIs and stars, survival tables. */
export function formatAnalysis(result: AnalyzeResult): string {
  const lines: string[] = [];
  switch (result.event) {
    case "glm": {
      lines.push(
        `${result.name}: ${result.family} GLM of ${result.y}, ${result.n} rows, ${result.iterations} iterations`,
        ...table(
          ["", "estimate", "95% CI", "std. error", `${result.test} value`, "p", ""],
          result.coefficients.map((c) => [
            c.name,
            num(c.estimate),
            `${num(c.ci_low)} to ${num(c.ci_high)}`,
            num(c.se),
            num(c.statistic),
            pValue(c.p),
            stars(c.p),
          ]),
        ),
        `  deviance ${num(result.deviance)} on ${result.df_residual} df, AIC ${num(result.aic)}` +
          (result.family === "gaussian" ? `, dispersion ${num(result.dispersion)}` : ""),
      );
      break;
    }
    case "cox": {
      lines.push(
        `${result.name}: Cox model (${result.ties} ties, strata: ${result.strata.join(", ")}), ${result.n} rows, ${result.events} events, ${result.iterations} iterations`,
        ...table(
          ["", "hazard ratio", "95% CI", "coef", "std. error", "z", "p", ""],
          result.coefficients.map((c) => [
            c.name,
            num(c.hazard_ratio),
            `${num(c.hr_low)} to ${num(c.hr_high)}`,
            num(c.estimate),
            num(c.se),
            num(c.z),
            pValue(c.p),
            stars(c.p),
          ]),
        ),
        `  log partial likelihood ${num(result.loglik)}, likelihood-ratio test ${num(result.lr_test)} on ${result.coefficients.length} df (p ${pValue(result.lr_p)}), concordance ${num(result.concordance)}`,
      );
      break;
    }
    case "km": {
      lines.push(
        `${result.name}: Kaplan–Meier of ${result.time} (event ${result.event_column})${result.group ? ` by ${result.group}` : ""}; intervals are whole runs of the ${result.grid}-unit grid the nodes allowed`,
      );
      for (const curve of result.curves) {
        const median = curve.median ? `in [${curve.median.start}, ${curve.median.end ?? "end"})` : "not reached";
        lines.push(
          `  ${result.group ? `${result.group} = ${curve.group}: ` : ""}${curve.n} at start, ${curve.events} events, median survival ${median}`,
        );
        lines.push(
          ...table(
            ["interval", "at risk", "events", "censored", "survival", "95% CI"],
            curve.steps.map((s) => [
              `[${s.start}, ${s.end ?? "end"})`,
              String(s.at_risk),
              String(s.events),
              String(s.censored),
              num(s.survival),
              `${num(s.ci_low)} to ${num(s.ci_high)}`,
            ]),
            "    ",
          ),
        );
      }
      if (result.log_rank)
        lines.push(
          `  log-rank test: chi-square ${num(result.log_rank.chi_square)} on ${result.log_rank.df} df, p ${pValue(result.log_rank.p)}`,
        );
      break;
    }
    case "crosstab": {
      lines.push(
        `${result.name}: ${result.rows} by ${result.cols}`,
        ...table(
          [`${result.rows} \\ ${result.cols}`, ...result.col_levels],
          result.row_levels.map((r, i) => [r, ...result.cells[i].map(String)]),
        ),
      );
      if (result.chi_square)
        lines.push(
          `  chi-square ${num(result.chi_square.chi_square)} on ${result.chi_square.df} df, p ${pValue(result.chi_square.p)}` +
            (result.fisher_p !== null ? `; Fisher's exact p ${pValue(result.fisher_p)}` : ""),
        );
      else lines.push("  no chi-square: some cells were withheld by a node's min_count");
      break;
    }
  }
  lines.push(`  nodes: ${nodes(result.nodes)}`, "");
  return `${lines.join("\n")}\n`;
}

function nodes(list: NodeUse[]): string {
  return list
    .map(
      (n) =>
        `${n.name} ${n.rows} rows${n.excluded === 0 ? "" : ` (${n.excluded === "below" ? "a few" : n.excluded} left out)`}`,
    )
    .join(", ");
}

function table(head: string[], rows: string[][], indent = "  "): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `${indent}${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")}`.trimEnd();
  return [line(head), ...rows.map(line)];
}

function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : v.toFixed(4);
}

function pValue(p: number): string {
  return p < 1e-4 ? "<0.0001" : p.toFixed(4);
}

/** R's significance codes. */
function stars(p: number): string {
  return p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : p < 0.1 ? "." : "";
}
