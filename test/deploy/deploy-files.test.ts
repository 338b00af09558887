import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { repo, targets } from "../../scripts/lib/sea-build.js";

const read = (file: string) => readFileSync(join(repo, file), "utf8");
const has = (command: string, args: string[]) => spawnSync(command, args, { encoding: "utf8" }).status === 0;

describe("deploy/fbm-node.service", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-unit-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const unit = read("deploy/fbm-node.service");

  it("serves with readiness notification, reloads with SIGHUP, keeps its home private", () => {
    for (const line of [
      "Type=notify",
      "NotifyAccess=all",
      "ExecStart=/usr/local/bin/fbm-node serve",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "Environment=FBM_NODE_HOME=/var/lib/fbm-node",
      "StateDirectory=fbm-node",
      "StateDirectoryMode=0700",
    ])
      assert.ok(unit.split("\n").includes(line), `missing "${line}"`);
  });

  it("passes `systemd-analyze verify` (with ExecStart pointing at the repo's fbm-node)", {
    skip: !has("systemd-analyze", ["--version"]) && "systemd-analyze is not installed",
  }, () => {
    // verify checks that ExecStart exists: the installed path is not there on a build machine.
    const file = join(dir, "fbm-node.service");
    writeFileSync(file, unit.replaceAll("/usr/local/bin/fbm-node", join(repo, "bin", "fbm-node.js")));
    const result = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim(), "", result.stderr);
  });
});

describe("deploy/Dockerfile.node and Dockerfile.researcher", () => {
  for (const [file, name] of [
    ["deploy/Dockerfile.node", "fbm-node"],
    ["deploy/Dockerfile.researcher", "fbm-researcher"],
  ]) {
    it(`${file} builds ${name} with \`npm run build\` and copies what that produces`, () => {
      const text = read(file);
      assert.match(text, /^RUN npm ci --ignore-scripts$/m);
      assert.match(text, /^RUN npm run build$/m);
      const copied = [...text.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
      // What npm run build writes: dist/<target name> (scripts/lib/sea-build.ts).
      assert.deepEqual(copied, [[`dist/${name}`, `/usr/local/bin/${name}`]]);
      assert.ok(targets.some((t) => t.name === name));
      assert.match(text, new RegExp(`^ENTRYPOINT \\["/usr/local/bin/${name}"\\]$`, "m"));
      assert.ok(JSON.parse(read("package.json")).scripts.build.includes("scripts/build.ts"));
      // The build context must not carry the host's node_modules or executables into the image.
      const ignored = read(".dockerignore").split("\n");
      for (const entry of ["node_modules", "dist"]) assert.ok(ignored.includes(entry), entry);
    });
  }

  it("docker builds the node image", {
    skip: !has("docker", ["info"]) && "no reachable Docker daemon on this machine",
    timeout: 1_800_000,
  }, () => {
    const result = spawnSync("docker", ["build", "-f", "deploy/Dockerfile.node", "-t", "fbm-node:test", "."], {
      cwd: repo,
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    const version = spawnSync("docker", ["run", "--rm", "fbm-node:test", "--version"], { encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
  });
});
