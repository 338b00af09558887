import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, prepareNodes, researcherBin, startNodes } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";

describe("fbm-researcher datasets", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-ds-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("lists exactly each node's datasets carrying all the tags, without paths", async () => {
    const csv = (name: string) => {
      const path = join(dir, `${name}-secret-location.csv`);
      writeTabularCsv(path, { rows: 20, seed: name.length, features: 2 });
      return path;
    };
    const add = (name: string, tags: string) => ["--type", "csv", "--path", csv(name), "--tags", tags, "--name", name];
    const homes = await prepareNodes(dir, [
      { name: "alpha", datasets: [add("alpha-heart", "x,heart"), add("alpha-lung", "y")] },
      { name: "beta", datasets: [add("beta-heart", "x,heart,2024"), add("beta-skin", "z")] },
      { name: "gamma", datasets: [add("gamma-lung", "y,lung")] },
    ]);
    // The nodes run first, behind a gate the researcher's address is given to once it listens.
    const nodes = await startNodes(homes);
    let stdout = "";
    let stderr = "";
    let code: number | null;
    try {
      const researcher = spawn(
        process.execPath,
        [
          researcherBin,
          "datasets",
          "--tags",
          "x,heart",
          "--listen",
          "127.0.0.1:0",
          "--wait",
          String(DEADLINE_MS / 1000),
          "--nodes",
          "3",
          "--json",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const deadline = setTimeout(() => researcher.kill("SIGKILL"), DEADLINE_MS + 60_000);
      researcher.stdout!.on("data", (d) => (stdout += d));
      researcher.stderr!.on("data", (d) => {
        stderr += d;
        const url = /Listening on (\S+);/.exec(stderr)?.[1];
        if (url) nodes.gate.open(url);
      });
      code = await new Promise<number | null>((done) => researcher.on("exit", done));
      clearTimeout(deadline);
    } finally {
      await nodes.stop();
    }
    assert.equal(code, 0, stderr);

    const result = JSON.parse(stdout) as { name: string; datasets: { name: string; tags: string[] }[] }[];
    const byNode = Object.fromEntries(result.map((n) => [n.name, n.datasets.map((d) => d.name)]));
    assert.deepEqual(byNode, { alpha: ["alpha-heart"], beta: ["beta-heart"], gamma: [] });
    assert.ok(!stdout.includes("secret-location"), "no dataset path in the output");
    assert.ok(!/"path"/.test(stdout), "no path field in the output");
  });
});
