import type { KmResult } from "./analyze-result.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const WIDTH = 720;
const PLOT = { left: 70, right: 30, top: 40, height: 300 };

/**
 * Kaplan–Meier curves as an SVG image, with the numbers at risk under the axis. Each curve is a step
 * function that drops at the end of each interval (where the binned events are counted); the last
 * interval is open, so its drop is drawn dashed at the right edge.
 */
export function kmSvg(result: KmResult): string {
  const starts = result.curves[0]?.steps.map((s) => s.start) ?? [0];
  const lastStart = starts[starts.length - 1];
  const span = lastStart > 0 ? lastStart * 1.15 : result.grid;
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const x = (t: number) => PLOT.left + (t / span) * plotWidth;
  const y = (s: number) => PLOT.top + (1 - s) * PLOT.height;
  const riskTop = PLOT.top + PLOT.height + 60;
  const height = riskTop + 24 * (result.curves.length + 1) + 10;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${PLOT.left}" y="22" font-size="14">${esc(`${result.name}: Kaplan–Meier of ${result.time}${result.group ? ` by ${result.group}` : ""}`)}</text>`,
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${plotWidth}" height="${PLOT.height}" fill="none" stroke="#999"/>`,
  );
  for (const s of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${PLOT.left - 4}" y1="${y(s)}" x2="${PLOT.left}" y2="${y(s)}" stroke="#999"/>`,
      `<text x="${PLOT.left - 8}" y="${y(s) + 4}" text-anchor="end">${s.toFixed(2)}</text>`,
    );
  }
  for (const t of starts) {
    parts.push(
      `<line x1="${x(t)}" y1="${PLOT.top + PLOT.height}" x2="${x(t)}" y2="${PLOT.top + PLOT.height + 4}" stroke="#999"/>`,
      `<text x="${x(t)}" y="${PLOT.top + PLOT.height + 18}" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<text x="${PLOT.left + plotWidth / 2}" y="${PLOT.top + PLOT.height + 36}" text-anchor="middle">${esc(result.time)} (intervals the nodes allowed, grid ${result.grid})</text>`,
    `<text x="16" y="${PLOT.top + PLOT.height / 2}" transform="rotate(-90 16 ${PLOT.top + PLOT.height / 2})" text-anchor="middle">survival</text>`,
    `<text x="${PLOT.left}" y="${riskTop}" font-weight="bold">Number at risk</text>`,
  );
  result.curves.forEach((curve, k) => {
    const color = COLORS[k % COLORS.length];
    let path = `M${x(0)},${y(1)}`;
    let last = 1;
    let dashed = "";
    curve.steps.forEach((step) => {
      if (step.end === null) {
        path += ` H${x(span)}`;
        if (step.survival !== last) dashed = `M${x(span)},${y(last)} V${y(step.survival)}`;
      } else path += ` H${x(step.end)} V${y(step.survival)}`;
      last = step.survival;
    });
    const label = result.group ? `${result.group} = ${curve.group}` : "all";
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (dashed)
      parts.push(`<path d="${dashed}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="4 3"/>`);
    parts.push(
      `<text x="${WIDTH - PLOT.right - 8}" y="${PLOT.top + 18 + 16 * k}" text-anchor="end" fill="${color}">${esc(label)}</text>`,
    );
    const row = riskTop + 24 * (k + 1);
    parts.push(
      `<text x="${PLOT.left - 8}" y="${row}" text-anchor="end" fill="${color}">${esc(curve.group || "all")}</text>`,
    );
    for (const step of curve.steps)
      parts.push(`<text x="${x(step.start)}" y="${row}" text-anchor="middle">${step.at_risk}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
