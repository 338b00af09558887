import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { researcherCli } from "../../support/cli.js";

describe("fbm-researcher relay (flags)", () => {
  it("refuses a bad --upstream with one line and a non-zero exit, before serving", async () => {
    const r = await researcherCli("relay", "--upstream", "ftp://researcher.example", "--listen", "127.0.0.1:0");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid --upstream "ftp:\/\/researcher.example": expected an http:\/\/ or https:\/\/ URL/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });

  it("refuses --nodes 0 and a negative --round-timeout", async () => {
    const nodes = await researcherCli("relay", "--upstream", "http://127.0.0.1:1", "--nodes", "0");
    assert.notEqual(nodes.code, 0);
    assert.match(nodes.stderr, /Invalid --nodes "0"/);
    const timeout = await researcherCli("relay", "--upstream", "http://127.0.0.1:1", "--round-timeout", "-5");
    assert.notEqual(timeout.code, 0);
    assert.match(timeout.stderr, /Invalid --round-timeout "-5"/);
  });

  it("requires --upstream", async () => {
    const r = await researcherCli("relay");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--upstream/);
  });
});
