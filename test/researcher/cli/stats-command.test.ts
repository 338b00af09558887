import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { researcherCli } from "../../support/cli.js";

describe("fbm-researcher stats", () => {
  const bad: [string, string[], RegExp][] = [
    ["no --tags", [], /Required option '--tags <a,b>' not specified/],
    ["a quantile above 1", ["--tags", "t", "--quantiles", "0.5,2"], /Invalid quantile "2"/],
    ["a non-numeric --bins", ["--tags", "t", "--bins", "ten"], /Invalid --bins "ten": give a number/],
    ["a bad listen address", ["--tags", "t", "--listen", "nowhere"], /Invalid listen address "nowhere"/],
  ];
  for (const [what, args, message] of bad) {
    it(`exits 2 with one error line for ${what}`, async () => {
      const r = await researcherCli("stats", ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it("exits 1 when no node answered within --wait, with only an `error` event on stdout", async () => {
    const r = await researcherCli("stats", "--tags", "heart", "--listen", "127.0.0.1:0", "--wait", "0.2", "--json");
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout)), ["event", "message", "exit"]);
    assert.match(r.stderr, /^Listening on http:\/\/127\.0\.0\.1:\d+; waiting up to 0\.2 s/);
    assert.match(
      r.stderr,
      /\nError: No node holding a dataset tagged \[heart\] answered within 0\.2 s \(0 connected\): start the nodes/,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
});
