import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { chooseBackend } from "../../src/ml/backend.js";
import { probeBackend, versionText } from "../../src/ml/backend-probe.js";
import { embeddedWasmPaths, hasEmbeddedWasm } from "../../src/ml/wasm-assets.js";

describe("probeBackend() (what --version reports, without loading TensorFlow.js)", () => {
  it("names the backend chooseBackend() activates", async () => {
    const env = { FBM_BACKEND: undefined, FBM_WASM_PATH: undefined };
    const predicted = probeBackend(env);
    const chosen = await chooseBackend({ env });
    assert.equal(predicted.split(" ")[0], chosen);
  });

  it("reports an FBM_BACKEND override as such", () => {
    assert.equal(probeBackend({ FBM_BACKEND: "cpu" }), "cpu (FBM_BACKEND)");
    assert.equal(probeBackend({ FBM_BACKEND: " wasm " }), "wasm (FBM_BACKEND)");
  });

  it("falls back to cpu when FBM_WASM_PATH holds no wasm binary", () => {
    const empty = mkdtempSync(join(tmpdir(), "fbm-probe-"));
    try {
      assert.match(probeBackend({ FBM_WASM_PATH: empty }), /^(cpu|tensorflow \(native\))$/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("puts the package version on the first line of versionText()", () => {
    const [version, backend] = versionText().split("\n");
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.match(backend, /^tfjs backend: (tensorflow|wasm|cpu)/);
  });
});

describe("embedded wasm outside a single executable", () => {
  it("is absent, so backend.ts loads the installed .wasm files", () => {
    assert.equal(hasEmbeddedWasm(), false);
    assert.equal(embeddedWasmPaths(), undefined);
  });
});
