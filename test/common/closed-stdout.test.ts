import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { nodeBin, researcherBin } from "../../scripts/lib/federation.js";

/**
 * Runs a CLI whose stdout reader has gone (as `… | head` once head has its lines): the parent closes its
 * end of the pipe before the child writes, so every write the child makes fails with EPIPE.
 */
async function withClosedStdout(bin: string, args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.destroy();
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  return { code, stderr };
}

describe("a closed stdout is a normal end", () => {
  const cases: [string, string, string[]][] = [
    ["fbm-researcher schema", researcherBin, ["schema"]],
    ["fbm-researcher --help", researcherBin, ["--help"]],
    ["fbm-node --help", nodeBin, ["--help"]],
  ];
  for (const [what, bin, args] of cases) {
    it(`${what}: exit 0, nothing on stderr`, async () => {
      const { code, stderr } = await withClosedStdout(bin, args);
      assert.equal(stderr, "");
      assert.equal(code, 0);
    });
  }
});
