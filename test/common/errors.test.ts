import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { describe, it } from "node:test";
import { describeError, errorMessage, errorStack, InputError, namingFile } from "../../src/common/errors.js";

describe("errorMessage()", () => {
  it("gives an Error's message, an error-like object's message, or any other value as text", () => {
    assert.equal(errorMessage(new TypeError("bad type")), "bad type");
    assert.equal(errorMessage({ message: "from a tfjs kernel" }), "from a tfjs kernel");
    assert.equal(errorMessage("thrown text"), "thrown text");
    assert.equal(errorMessage(42), "42");
    assert.equal(errorMessage(undefined), "undefined");
  });
});

describe("errorStack()", () => {
  it("gives an Error's stack, else the value as text", () => {
    assert.match(errorStack(new Error("boom")), /^Error: boom\n\s+at /);
    assert.equal(errorStack("thrown text"), "thrown text");
  });
});

describe("describeError()", () => {
  it("keeps an FbmError's message and exit code, and calls anything else an unexpected runtime failure", () => {
    assert.deepEqual(describeError(new InputError("No such file")), { message: "No such file", exitCode: 2 });
    assert.deepEqual(describeError(new RangeError("index")), { message: "Unexpected failure: index", exitCode: 1 });
  });
});

describe("namingFile()", () => {
  it("names the file a write failed on (ENOSPC from /dev/full), and describeError says it without 'Unexpected failure'", async (t) => {
    const full = await open("/dev/full", "a").catch(() => undefined);
    if (!full) return t.skip("no /dev/full on this system");
    let caught: unknown;
    try {
      await full.appendFile("x").catch(namingFile("/dev/full"));
    } catch (error) {
      caught = error;
    } finally {
      await full.close();
    }
    assert.equal((caught as NodeJS.ErrnoException).code, "ENOSPC");
    assert.deepEqual(describeError(caught), {
      message: "Cannot write /dev/full: ENOSPC: no space left on device, write",
      exitCode: 1,
    });
  });
});
