import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { createSpinBudget, maxSpins, waitFor } from "../../../src/ml/engine/spin-wait.js";

/** The adaptive spin before a sleep (spin-wait.ts): it spins while waits are short, and stops when they are long. */

describe("waitFor()", () => {
  it("returns as soon as the slot is done, spending no sleep and keeping the budget", () => {
    const control = new Int32Array(new SharedArrayBuffer(8));
    control[0] = 3;
    const budget = createSpinBudget();
    waitFor(control, 0, (v) => v >= 3, budget);
    assert.equal(budget.spins, maxSpins);
  });

  it("halves the budget after a long wait and grows it back after short ones", () => {
    const control = new Int32Array(new SharedArrayBuffer(8));
    const budget = { ...createSpinBudget(), spins: 1000 };
    // Long: done only once 15 ms passed (sleeps of 2 ms between checks).
    const until = performance.now() + 15;
    let checks = 0;
    waitFor(
      control,
      0,
      () => performance.now() >= until,
      budget,
      () => checks++,
      2,
    );
    assert.ok(checks >= 2, "it slept between checks");
    assert.equal(budget.spins, 500);
    for (let i = 0; i < 10; i++)
      waitFor(control, 0, () => performance.now() >= until + 15 * (i + 1), budget, undefined, 2);
    assert.equal(budget.spins, 0, "long waits take the spin away");
    // Short: done on the first check after the (empty) spin; a generous bound for "short" on a loaded machine.
    budget.shortMs = 50;
    waitFor(control, 0, () => true, budget);
    assert.equal(budget.spins, 64);
    for (let i = 0; i < 10; i++) {
      let calls = 0;
      waitFor(control, 0, () => calls++ >= budget.spins, budget);
    }
    assert.equal(budget.spins, maxSpins, "short waits bring the whole spin back");
  });

  it("wakes on the partner's notify after its spin", async () => {
    const shared = new SharedArrayBuffer(8);
    const control = new Int32Array(shared);
    const partner = new Worker(
      `const { workerData } = require("node:worker_threads");
       const c = new Int32Array(workerData);
       setTimeout(() => { Atomics.store(c, 0, 1); Atomics.notify(c, 0); }, 30);`,
      { eval: true, workerData: shared },
    );
    try {
      const budget = createSpinBudget();
      waitFor(control, 0, (v) => v === 1, budget, undefined, Number.POSITIVE_INFINITY);
      assert.equal(Atomics.load(control, 0), 1);
      assert.equal(budget.spins, maxSpins >> 1, "a 30-ms wait is a long one");
    } finally {
      await partner.terminate();
    }
  });
});
