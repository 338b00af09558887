import { splitRows } from "./batches.js";
import type { Dataset } from "./types.js";

/**
 * The seeded train/test split of a dataset's rows. Rows in groups (the slices of one subject) are split
 * by whole groups with `splitRows` over the group indices, so a subject's slices never sit on both
 * sides: a test Dice measured on slices of subjects seen in training would flatter the model.
 */
export function splitSamples(
  data: Pick<Dataset, "rows" | "groups">,
  testRatio: number,
  seed: number,
  minTest?: number,
): { train: Int32Array; test: Int32Array } {
  const groups = data.groups;
  if (groups === undefined) return splitRows(data.rows, testRatio, seed, minTest);
  const count = groups.reduce((most, g) => Math.max(most, g + 1), 0);
  const test = new Uint8Array(count);
  // The node's least test size counts subjects here (each brings all its slices to one side).
  for (const g of splitRows(count, testRatio, seed, minTest).test) test[g] = 1;
  const train: number[] = [];
  const held: number[] = [];
  for (let r = 0; r < data.rows; r++) (test[groups[r]] ? held : train).push(r);
  return { train: Int32Array.from(train), test: Int32Array.from(held) };
}
