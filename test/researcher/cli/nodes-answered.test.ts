import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuntimeFailure } from "../../../src/common/errors.js";
import { checkNodesAnswered } from "../../../src/researcher/cli/nodes-answered.js";
import { researcherCli } from "../../support/cli.js";

describe("fewer nodes answered than --nodes", () => {
  const check = (answered: number, wanted: number | undefined, strict: boolean) => {
    const lines: string[] = [];
    checkNodesAnswered({ answered, wanted, waitSeconds: 10, strict, warn: (l) => lines.push(l) });
    return lines;
  };

  it("warns naming both counts and what to change; silent when enough answered or --nodes not given", () => {
    assert.deepEqual(check(2, 3, false), [
      "Warning: Only 2 of 3 nodes (--nodes) answered within 10 s: start the missing nodes or give --wait more seconds; the output holds the 2 that did",
    ]);
    assert.deepEqual(check(3, 3, false), []);
    assert.deepEqual(check(1, undefined, true), []);
  });

  it("with --strict is a runtime failure (exit 1)", () => {
    assert.throws(
      () => check(2, 3, true),
      (e) => e instanceof RuntimeFailure && /Only 2 of 3 .*\(--strict\)$/.test(e.message),
    );
  });

  it("datasets: exit 0 with the warning, exit 1 with --strict, the list on stdout either way", async () => {
    const args = ["datasets", "--listen", "127.0.0.1:0", "--wait", "0.2", "--nodes", "2", "--json"];
    const lax = await researcherCli(...args);
    assert.equal(lax.code, 0, lax.stderr);
    assert.equal(lax.stdout, "[]\n");
    assert.match(lax.stderr, /\nWarning: Only 0 of 2 nodes \(--nodes\) answered within 0\.2 s/);
    const strict = await researcherCli(...args, "--strict");
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /\nError: Only 0 of 2 nodes \(--nodes\) answered within 0\.2 s: .*\(--strict\)\n$/);
  });
});
