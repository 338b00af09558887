import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { durationMs, parseDuration } from "../../../src/researcher/run/duration.js";

describe("parseDuration()", () => {
  const valid: [string | number, number][] = [
    ["500ms", 500],
    ["60s", 60_000],
    ["10m", 600_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["0s", 0],
    ["45", 45_000],
    [30, 30_000],
    [0.25, 250],
    [" 2m ", 120_000],
  ];
  for (const [value, ms] of valid) {
    it(`reads ${JSON.stringify(value)} as ${ms} ms`, () => assert.equal(parseDuration(value), ms));
  }

  for (const value of ["10 minutes", "10 m", "1d", "-5s", "", "s", Number.NaN, -1, Number.POSITIVE_INFINITY]) {
    it(`rejects ${JSON.stringify(value)} with a hint`, () => {
      assert.equal(durationMs(value), undefined);
      assert.throws(
        () => parseDuration(value),
        (e: unknown) =>
          e instanceof InputError &&
          e.message.startsWith(`Invalid duration ${JSON.stringify(value)}: use a number of seconds`),
      );
    });
  }
});
