import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/fbm-node.js", import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), "fbm-bin-"));
after(() => rmSync(cwd, { recursive: true, force: true }));

describe("bin/fbm-node.js", () => {
  it("runs from any folder, keeps --json output on stdout and exits with the CLI's code", () => {
    const init = spawnSync(process.execPath, [bin, "init", "--json"], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, FBM_NODE_HOME: "" },
    });
    assert.equal(init.status, 0, init.stderr);
    assert.equal(JSON.parse(init.stdout).home, join(cwd, "fbm-node"));

    const missing = spawnSync(process.execPath, [bin, "dataset", "show", "ds_000000000000"], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, FBM_NODE_HOME: "" },
    });
    assert.equal(missing.status, 2);
    assert.equal(missing.stdout, "");
    assert.match(missing.stderr, /^Error: No dataset with id "ds_000000000000"/);
  });
});
