import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { getConfig, initHome, loadHome, resolveHome, setConfig } from "../../../src/node/config/home.js";

const root = mkdtempSync(join(tmpdir(), "fbm-home-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `home${n++}`);

describe("node home", () => {
  it("resolveHome() takes the flag, else $FBM_NODE_HOME, else ./fbm-node, always absolute", () => {
    assert.equal(resolveHome("rel/dir", { FBM_NODE_HOME: "/env" }), resolve("rel/dir"));
    assert.equal(resolveHome(undefined, { FBM_NODE_HOME: "/env" }), "/env");
    assert.equal(resolveHome(undefined, {}), resolve("fbm-node"));
  });

  it("initHome() writes config.json (node id, name, researcher, plan approval on) and an empty catalogue", async () => {
    const dir = freshDir();
    const config = await initHome(dir, { name: "hospital-a" });
    assert.match(config.node_id, /^node_[0-9a-f]{12}$/);
    assert.equal(config.name, "hospital-a");
    assert.equal(config.researcher, "http://127.0.0.1:50051");
    assert.equal(config.plan_approval, true);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), config);
    const home = await loadHome(dir);
    assert.deepEqual(home.catalogue.listDatasets(), []);
    assert.ok(existsSync(join(dir, "catalogue.json")));
  });

  it("initHome() refuses to overwrite an existing home", async () => {
    const dir = freshDir();
    await initHome(dir);
    const before = readFileSync(join(dir, "config.json"));
    await assert.rejects(initHome(dir, { name: "other" }), {
      name: "InputError",
      message: /^A node home already exists at /,
    });
    assert.deepEqual(readFileSync(join(dir, "config.json")), before);
  });

  it("initHome() refuses a researcher that is not an http(s) URL", async () => {
    const dir = freshDir();
    await assert.rejects(initHome(dir, { researcher: "localhost:50051" }), /must be an http\(s\) URL/);
    assert.equal(existsSync(dir), false);
  });

  it("loadHome() on an empty folder says how to create the home", async () => {
    const dir = freshDir();
    await assert.rejects(loadHome(dir), {
      name: "InputError",
      message: `No node home at ${dir}: run \`fbm-node init --home ${dir}\` first`,
    });
  });

  it("setConfig()/getConfig() validate keys and values and persist them", async () => {
    const dir = freshDir();
    await initHome(dir);
    await setConfig(dir, "plan_approval", "false");
    await setConfig(dir, "researcher", "https://researcher.example.org:8443/");
    await setConfig(dir, "name", "  site b ");
    assert.equal(await getConfig(dir, "plan_approval"), false);
    assert.equal(await getConfig(dir, "researcher"), "https://researcher.example.org:8443");
    assert.equal(await getConfig(dir, "name"), "site b");
    assert.match(String(await getConfig(dir, "node_id")), /^node_/);

    await assert.rejects(setConfig(dir, "plan_approval", "yes"), /plan_approval" must be true or false, got "yes"/);
    await assert.rejects(setConfig(dir, "researcher", "ftp://x"), /must be an http\(s\) URL/);
    await assert.rejects(setConfig(dir, "node_id", "node_000000000000"), /"node_id" is read-only/);
    await assert.rejects(setConfig(dir, "colour", "blue"), /Unknown config key "colour" \(keys: /);
    await assert.rejects(getConfig(dir, "colour"), /Unknown config key "colour"/);
    assert.equal(await getConfig(dir, "plan_approval"), false);
  });
});
