import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { initHome, setConfig } from "../../../src/node/config/home.js";
import { type ConfigChange, watchConfig } from "../../../src/node/serve/config-watch.js";
import { until } from "../../support/wait.js";

describe("watchConfig()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-watch-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reports each key `config set` changed, with whether serving applies it live", async () => {
    const home = join(dir, "home");
    const initial = await initHome(home, { name: "a" });
    const seen: ConfigChange[][] = [];
    const errors: string[] = [];
    const watch = watchConfig(home, initial, { onChange: (_, c) => seen.push(c), onError: (e) => errors.push(e) });
    try {
      await setConfig(home, "plan_approval", "false");
      await until(() => seen.length === 1, "the plan_approval change");
      assert.deepEqual(seen[0], [{ key: "plan_approval", value: false, live: true }]);
      await setConfig(home, "researcher", "http://10.0.0.1:50051");
      await until(() => seen.length === 2, "the researcher change");
      assert.deepEqual(seen[1], [{ key: "researcher", value: "http://10.0.0.1:50051", live: false }]);
      await watch.reload(); // SIGHUP with nothing changed: nothing to report
      assert.equal(seen.length, 2);
      assert.deepEqual(errors, []);
    } finally {
      watch.close();
    }
  });
});
