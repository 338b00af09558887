import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readAhead } from "../../src/wire/read-ahead.js";

/** A source whose messages the test hands out one at a time; counts the reads asked of it. */
function controlled<T>() {
  const waiting: ((r: IteratorResult<T>) => void)[] = [];
  const failing: ((e: unknown) => void)[] = [];
  const source = {
    reads: 0,
    next(): Promise<IteratorResult<T>> {
      source.reads++;
      return new Promise((resolve, reject) => {
        waiting.push(resolve);
        failing.push(reject);
      });
    },
    send(value: T) {
      failing.shift();
      waiting.shift()?.({ done: false, value });
    },
    fail(error: unknown) {
      waiting.shift();
      failing.shift()?.(error);
    },
  };
  return source;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("readAhead: a response stream's end seen while its consumer is busy", () => {
  it("reads past keep-alives, stops at the first other message, and reports the end at once", async () => {
    const source = controlled<string>();
    const ends: unknown[] = [];
    const ahead = readAhead(source, { keepReading: (m) => m === "", onEnd: (e) => ends.push(e) });
    assert.equal((await Promise.all([ahead.next(), turn().then(() => source.send("task-1"))]))[0].value, "task-1");
    // The consumer is away (running task-1): keep-alives are read, the next task's head is held.
    await turn();
    source.send("");
    await turn();
    source.send("task-2");
    await turn();
    assert.equal(source.reads, 3, "no read past task-2's head while it is held");
    assert.deepEqual(await ahead.next(), { done: false, value: "" });
    assert.equal(source.reads, 3, "still held: task-2 is buffered");
    assert.deepEqual(await ahead.next(), { done: false, value: "task-2" });
    assert.equal(source.reads, 4, "reading goes on once task-2 is taken");
    // The call breaks while nobody reads: onEnd hears it now; the consumer gets the error when it reads.
    const broken = new Error("stream reset");
    source.fail(broken);
    await turn();
    assert.deepEqual(ends, [broken]);
    assert.equal(ahead.ended, true);
    await assert.rejects(ahead.next(), broken);
    assert.deepEqual(await ahead.next(), { done: true, value: undefined }, "past the end: done, not a wait");
  });
});
