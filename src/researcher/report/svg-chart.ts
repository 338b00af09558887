import type { Curve } from "./report-data.js";

/** A line chart as inline SVG: one polyline per series, axes with ticks; no script, no network. */

const WIDTH = 560;
const HEIGHT = 260;
const PLOT = { left: 56, top: 12, width: 360, height: 200 };
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

/** A figure for people: 4 significant digits, small and large ones in exponent form (`1e-5`, `2.4`, `0.8123`). */
export function roundFigure(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(4)));
}

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const raw = (hi - lo) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t < hi + step - 1e-9 * step; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The chart of one curve. The SVG carries its axes' ranges (`data-x`, `data-y`) and plot box
 * (`data-plot`) and each polyline its series name, so a reader can map the drawn points back to values.
 */
export function svgChart(curve: Curve): string {
  const all = curve.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  // The y axis spans whole ticks, so each tick is a round number.
  const yTicks = niceTicks(y0, y1);
  [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number) => PLOT.left + ((x - x0) / (x1 - x0)) * PLOT.width;
  const py = (y: number) => PLOT.top + (1 - (y - y0) / (y1 - y0)) * PLOT.height;
  const fmt = (v: number) => Number(v.toFixed(2)).toString();
  const lines = curve.series.map((s, i) => {
    const pooled = s.main === true;
    const color = pooled ? "#000" : PALETTE[i % PALETTE.length];
    const points = s.points.map(([x, y]) => `${fmt(px(x))},${fmt(py(y))}`).join(" ");
    const dots = s.points
      .map(
        ([x, y]) =>
          `<circle cx="${fmt(px(x))}" cy="${fmt(py(y))}" r="${pooled ? 3 : 2}" fill="${color}"><title>${escapeHtml(s.name)}, round ${x}: ${roundFigure(y)}</title></circle>`,
      )
      .join("");
    return `<g class="series" data-series="${escapeHtml(s.name)}"><polyline fill="none" stroke="${color}" stroke-width="${pooled ? 2.5 : 1.2}"${pooled ? "" : ' stroke-dasharray="4 2"'} points="${points}"/>${dots}</g>`;
  });
  const step = Math.max(1, Math.ceil((x1 - x0) / 10));
  const xTicks: number[] = [];
  for (let x = Math.ceil(x0); x <= x1; x += step) xTicks.push(x);
  const axes = [
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.width}" height="${PLOT.height}" fill="none" stroke="#ccc"/>`,
    ...yTicks.map(
      (y) =>
        `<line x1="${PLOT.left - 4}" x2="${PLOT.left}" y1="${fmt(py(y))}" y2="${fmt(py(y))}" stroke="#999"/><text x="${PLOT.left - 6}" y="${fmt(py(y) + 4)}" text-anchor="end">${roundFigure(y)}</text>`,
    ),
    ...xTicks.map(
      (x) =>
        `<line x1="${fmt(px(x))}" x2="${fmt(px(x))}" y1="${PLOT.top + PLOT.height}" y2="${PLOT.top + PLOT.height + 4}" stroke="#999"/><text x="${fmt(px(x))}" y="${PLOT.top + PLOT.height + 16}" text-anchor="middle">${x}</text>`,
    ),
    `<text x="${PLOT.left + PLOT.width / 2}" y="${HEIGHT - 8}" text-anchor="middle">round</text>`,
  ];
  const legend = curve.series.map((s, i) => {
    const color = s.main ? "#000" : PALETTE[i % PALETTE.length];
    const y = PLOT.top + 10 + i * 16;
    return `<rect x="${PLOT.left + PLOT.width + 14}" y="${y - 8}" width="10" height="10" fill="${color}"/><text x="${PLOT.left + PLOT.width + 30}" y="${y + 1}">${escapeHtml(s.name)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" data-metric="${escapeHtml(curve.metric)}" data-x="${x0} ${x1}" data-y="${y0} ${y1}" data-plot="${PLOT.left} ${PLOT.top} ${PLOT.width} ${PLOT.height}" role="img" aria-label="${escapeHtml(curve.metric)} per round">${axes.join("")}${lines.join("")}${legend.join("")}</svg>`;
}
