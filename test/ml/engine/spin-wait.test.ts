import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import {
  coreWatchSteps,
  createCoreWatch,
  createSpinBudget,
  maxSpins,
  waitFor,
} from "../../../src/ml/engine/spin-wait.js";

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

  it("on own cores spins the long spin whatever the budget learnt, and learns nothing", () => {
    const control = new Int32Array(new SharedArrayBuffer(8));
    let own = true;
    const budget = { ...createSpinBudget(() => own), spins: 0 };
    // Done on the 10,000th check: within the long spin, so no sleep (no `check` call) on own cores.
    let calls = 0;
    let slept = 0;
    waitFor(
      control,
      0,
      () => ++calls >= 10_000,
      budget,
      () => slept++,
      2,
    );
    assert.equal(slept, 0, "caught by spinning");
    assert.equal(budget.spins, 0, "the shared cores' budget is left as it was");
    // A wait the spin does not end (done only once it slept) sleeps, and leaves the budget alone too.
    const learnt = { ...budget, spins: 1000 };
    calls = 0;
    waitFor(
      control,
      0,
      () => {
        calls++;
        return slept > 0;
      },
      learnt,
      () => slept++,
      2,
    );
    assert.ok(slept > 0);
    assert.ok(calls > 65_536, `spun the long spin first (${calls} checks)`);
    assert.equal(learnt.spins, 1000, "on own cores a sleep teaches nothing");
    // Shared cores: the learnt (empty) spin, then a sleep.
    own = false;
    calls = 0;
    slept = 0;
    waitFor(
      control,
      0,
      () => ++calls >= 3,
      budget,
      () => slept++,
      0.01,
    );
    assert.ok(slept > 0, "no spin on shared cores with an empty budget");
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

describe("createCoreWatch()", () => {
  /** A clock the test moves: `cpu` ms of the process's CPU, `now` ms of wall time. */
  const clock = () => {
    const c = { cpu: 0, now: 0, cpuMs: () => c.cpu, nowMs: () => c.now };
    return c;
  };

  it("says own cores when the process used about a core per thread over a window, shared when it used less", () => {
    const c = clock();
    const said: boolean[] = [];
    const watch = createCoreWatch(2, (own) => said.push(own), c);
    const steps = (n: number, wallMs: number, cpuMs: number) => {
      for (let i = 0; i < n; i++) {
        c.now += wallMs;
        c.cpu += cpuMs;
        watch.step();
      }
    };
    steps(coreWatchSteps - 1, 0.5, 0.95);
    assert.deepEqual(said, [], "nothing before a whole window");
    steps(1, 0.5, 0.95);
    assert.deepEqual(said, [true], "0.95 of two cores");
    steps(coreWatchSteps, 0.9, 0.9);
    assert.deepEqual(said, [true, false], "half of two cores: another process holds one");
    steps(coreWatchSteps, 0.6, 1.0);
    assert.deepEqual(said, [true, false, true]);
  });

  it("does not count the pause before a round: restart starts a new window", () => {
    const c = clock();
    const said: boolean[] = [];
    const watch = createCoreWatch(2, (own) => said.push(own), c);
    for (let i = 0; i < coreWatchSteps / 2; i++) {
      c.now += 0.5;
      c.cpu += 1;
      watch.step();
    }
    // The node waits 5 s for the next round, using no CPU.
    c.now += 5000;
    watch.restart();
    for (let i = 0; i < coreWatchSteps; i++) {
      c.now += 0.5;
      c.cpu += 1;
      watch.step();
    }
    assert.deepEqual(said, [true]);
  });
});
