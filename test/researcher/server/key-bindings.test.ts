import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import { createKeyBindings } from "../../../src/researcher/server/key-bindings.js";

describe("key bindings", () => {
  it("under trust on first use, logs each new binding with its key and how to release it", () => {
    const lines: string[] = [];
    const bindings = createKeyBindings({ log: (l) => lines.push(l), firstUse: { runDir: "runs/study" } });
    bindings.claim("node_a", "sha256:aa");
    bindings.claim("node_a", "sha256:aa");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^Bound node id node_a to key sha256:aa on first use \(no allow-list\)/);
    assert.match(lines[0], /fbm-researcher node unbind node_a --run runs\/study/);
    assert.throws(() => bindings.claim("node_a", "sha256:bb"), ConnectError);
  });

  it("with an allow-list (no firstUse) binds quietly", () => {
    const lines: string[] = [];
    createKeyBindings({ log: (l) => lines.push(l) }).claim("node_a", "sha256:aa");
    assert.deepEqual(lines, []);
  });
});
