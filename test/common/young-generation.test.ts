import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { capYoungGeneration, youngGenerationBytes } from "../../src/common/young-generation.js";

const MiB = 2 ** 20;

/**
 * Short-lived objects with a few thousand alive at a time, as a server's requests are: V8 grows its
 * young generation under this. Yields between batches so the collections' observer entries arrive.
 */
async function churn(): Promise<number> {
  let largest = 0;
  let alive: object[] = [];
  for (let batch = 0; batch < 30; batch++) {
    for (let i = 0; i < 200_000; i++) {
      alive.push({ i, list: [i, i] });
      if (alive.length > 5_000) alive = [];
    }
    largest = Math.max(largest, youngGenerationBytes());
    await new Promise((resolve) => setImmediate(resolve));
  }
  return largest;
}

test("the young generation stays at the cap under churn, after a worker thread starts too, and grows past it once released", async () => {
  const release = capYoungGeneration(2);
  let capped: number;
  try {
    // Starting a worker puts V8's flags back to their defaults (Node 20): the cap must hold after it.
    const worker = new Worker("", { eval: true });
    await new Promise((online) => worker.once("online", online));
    await worker.terminate();
    capped = await churn();
  } finally {
    release();
  }
  assert.ok(capped > 0, "the young generation's size is read");
  assert.ok(capped <= 2 * 2 * MiB, `two semi-spaces of at most 2 MiB, got ${capped / MiB} MiB`);
  // Without the cap the same churn grows it further (V8's own limit is 16 MiB a semi-space): the cap did it.
  const free = await churn();
  assert.ok(free > 2 * 2 * MiB, `V8's default growth, got ${free / MiB} MiB`);
});
