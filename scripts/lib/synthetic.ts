import { writeFileSync } from "node:fs";
import { createRng } from "../../src/ml/rng.js";

/**
 * Synthetic tabular data for demos and tests: `features` Gaussian columns on different scales and a
 * binary label from a fixed linear rule plus noise, so the task is learnable but not trivial.
 * `shift` moves one site's feature means (sites differ, as hospitals do).
 */
export function writeTabularCsv(path: string, options: { rows: number; seed: number; features?: number; noise?: number; shift?: number }): void {
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
  writeFileSync(path, lines.join("\n") + "\n");
}
