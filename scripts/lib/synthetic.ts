import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { createRng } from "../../src/ml/rng.js";

/**
 * Synthetic tabular data for demos and tests: `features` Gaussian columns on different scales and a
 * binary label from a fixed linear rule plus noise, so the task is learnable but not trivial.
 * `shift` moves one site's feature means (sites differ, as hospitals do).
 */
export function writeTabularCsv(
  path: string,
  options: { rows: number; seed: number; features?: number; noise?: number; shift?: number },
): void {
  const rng = createRng(options.seed);
  const k = options.features ?? 6;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const weights = [1.5, -1.0, 0.8, 0.0, 0.5, -0.7, 0.3, 0.9].slice(0, k);
  const scales = [1, 10, 0.1, 100, 5, 1, 2, 50].slice(0, k);
  const lines = [[...Array.from({ length: k }, (_, i) => `x${i + 1}`), "label"].join(",")];
  for (let r = 0; r < options.rows; r++) {
    const z = Array.from({ length: k }, () => gauss() + (options.shift ?? 0));
    const score = z.reduce((s, v, i) => s + v * weights[i], 0) + (options.noise ?? 0.3) * gauss();
    lines.push([...z.map((v, i) => (v * scales[i] + 3 * scales[i]).toFixed(4)), score > 0 ? 1 : 0].join(","));
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/**
 * Label-skewed site data (non-IID, as hospitals with different case mixes): rows drawn from the same
 * rule as writeTabularCsv until `rows` rows with the given share of label 1 are collected.
 */
export function writeSkewedCsv(
  path: string,
  options: { rows: number; seed: number; positiveShare: number; features?: number },
): void {
  const pool = `${path}.pool`;
  writeTabularCsv(pool, { rows: options.rows * 6, seed: options.seed, features: options.features, noise: 0.1 });
  const [header, ...lines] = readFileSync(pool, "utf8").trim().split("\n");
  unlinkSync(pool);
  const wantPositive = Math.round(options.rows * options.positiveShare);
  const positive = lines.filter((l) => l.endsWith(",1")).slice(0, wantPositive);
  const negative = lines.filter((l) => l.endsWith(",0")).slice(0, options.rows - positive.length);
  const rows = [...positive, ...negative].sort((a, b) => (a < b ? -1 : 1));
  writeFileSync(path, `${[header, ...rows].join("\n")}\n`);
}
