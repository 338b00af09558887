import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTransferBudget } from "../../../src/researcher/server/transfer-budget.js";

describe("transfer budget", () => {
  it("grants transfers while they fit and queues the rest, first come first served", async () => {
    const budget = createTransferBudget(100);
    const a = await budget.acquire(60);
    const b = await budget.acquire(40);
    const order: string[] = [];
    const c = budget.acquire(50).then((release) => {
      order.push("c");
      return release;
    });
    const d = budget.acquire(10).then((release) => {
      order.push("d");
      return release;
    });
    assert.equal(budget.waiting, 2);
    a();
    const releaseC = await c;
    const releaseD = await d;
    assert.deepEqual(order, ["c", "d"]); // d fitted earlier but waited its turn
    assert.equal(budget.inFlight, 100);
    b();
    releaseC();
    releaseD();
    assert.equal(budget.inFlight, 0);
  });

  it("lets a transfer larger than the whole budget run alone", async () => {
    const budget = createTransferBudget(10);
    const small = await budget.acquire(5);
    const big = budget.acquire(1000);
    assert.equal(budget.waiting, 1);
    small();
    const release = await big;
    assert.equal(budget.inFlight, 1000);
    release();
    release(); // twice is harmless
    assert.equal(budget.inFlight, 0);
  });

  it("drops a waiting transfer whose signal aborts, and lets the next one in", async () => {
    const budget = createTransferBudget(10);
    const held = await budget.acquire(10);
    const stop = new AbortController();
    const gone = budget.acquire(5, stop.signal);
    const next = budget.acquire(5);
    stop.abort(new Error("task settled"));
    await assert.rejects(gone, /task settled/);
    held();
    (await next)();
    assert.equal(budget.inFlight, 0);
    assert.equal(budget.waiting, 0);
  });

  it("costs nothing for a reply without parameters", async () => {
    const budget = createTransferBudget(1);
    await budget.acquire(1);
    (await budget.acquire(0))();
    assert.equal(budget.inFlight, 1);
  });
});
