import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DEADLINE_MS } from "../../support/wait.js";

const bin = fileURLToPath(new URL("../../../bin/fbm-node.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "fbm-concurrent-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs `fbm-node ARGS` as its own process; resolves with its exit code and output. */
function fbmNode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the catalogue under concurrent processes", () => {
  it("20 `fbm-node dataset add` at once on one home register 20 datasets", { timeout: DEADLINE_MS * 2 }, async () => {
    const home = join(root, "home");
    assert.equal((await fbmNode(["init", "--home", home])).code, 0);
    const csv = join(root, "data.csv");
    writeFileSync(csv, `a,b\n${Array.from({ length: 2000 }, (_, i) => `${i},${i % 2}`).join("\n")}\n`);
    const adds = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fbmNode(["dataset", "add", "--home", home, "--type", "csv", "--path", csv, "--tags", `site-${i}`, "--json"]),
      ),
    );
    for (const add of adds) assert.equal(add.code, 0, add.stderr);
    const ids = adds.map((add) => (JSON.parse(add.stdout) as { id: string }).id).sort();
    const [tables] = JSON.parse(readFileSync(join(home, "catalogue.json"), "utf8"));
    assert.deepEqual(Object.keys(tables.datasets).sort(), ids);
    const list = await fbmNode(["dataset", "list", "--home", home, "--json"]);
    assert.equal(JSON.parse(list.stdout).length, 20);
  });
});
