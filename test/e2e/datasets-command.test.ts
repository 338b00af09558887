import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, prepareNodes, startNodes } from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { runResearcherCommand } from "../support/researcher-command.js";

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
    const { code, stdout, stderr } = await runResearcherCommand(
      nodes,
      ["datasets", "--tags", "x,heart"],
      ["--nodes", "3", "--json"],
    ).finally(() => nodes.stop());
    assert.equal(code, 0, stderr);

    const listed = JSON.parse(stdout) as { name: string; datasets: { name: string; tags: string[] }[] }[];
    const byNode = Object.fromEntries(listed.map((n) => [n.name, n.datasets.map((d) => d.name)]));
    assert.deepEqual(byNode, { alpha: ["alpha-heart"], beta: ["beta-heart"], gamma: [] });
    assert.ok(!stdout.includes("secret-location"), "no dataset path in the output");
    assert.ok(!/"path"/.test(stdout), "no path field in the output");
  });
});
