import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { nodeCli, researcherCli } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "fbm-private-"));
after(() => rmSync(root, { recursive: true, force: true }));
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Runs `action` with umask 000, the most permissive an operator's shell may have. */
async function underUmask0<T>(action: () => Promise<T>): Promise<T> {
  const previous = process.umask(0);
  try {
    return await action();
  } finally {
    process.umask(previous);
  }
}

describe("files private whatever the umask", () => {
  it("fbm-node init makes the home (and folders above it) 0700, the key and the home's files 0600", async () => {
    const home = join(root, "site", "node-home");
    const init = await underUmask0(() => nodeCli("init", "--home", home));
    assert.equal(init.code, 0, init.stderr);
    assert.equal(mode(join(root, "site")), "700");
    assert.equal(mode(home), "700");
    for (const file of ["node.key", "config.json", "catalogue.json"]) assert.equal(mode(join(home, file)), "600", file);
    const csv = join(root, "d.csv");
    writeFileSync(csv, "a,b\n1,2\n");
    const add = await underUmask0(() =>
      nodeCli("dataset", "add", "--home", home, "--type", "csv", "--path", csv, "--tags", "t"),
    );
    assert.equal(add.code, 0, add.stderr);
    for (const file of ["catalogue.json", "catalogue.json.bak"]) assert.equal(mode(join(home, file)), "600", file);
  });

  it("fbm-researcher cert generate makes its folder 0700 and its key 0600", async () => {
    const dir = join(root, "trust", "researcher");
    const r = await underUmask0(() => researcherCli("cert", "generate", "--out", dir));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(mode(join(root, "trust")), "700");
    assert.equal(mode(dir), "700");
    assert.equal(mode(join(dir, "researcher.key")), "600");
  });

  it("fbm-node init --home <a file> exits 2 with one line saying to give a folder", async () => {
    const path = join(root, "plain-file");
    writeFileSync(path, "");
    const r = await nodeCli("init", "--home", path);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `Error: Cannot create a node home at ${path}: it is a file; fix: give --home a folder path\n`,
    );
    const below = await nodeCli("init", "--home", join(path, "home"));
    assert.equal(below.code, 2);
    assert.match(
      below.stderr,
      /^Error: Cannot create a node home at .*plain-file\/home: a file stands in its path; fix: .*\n$/,
    );
  });
});
