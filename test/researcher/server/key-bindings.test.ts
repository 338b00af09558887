import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
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

  it("refuses a second node id for a key already holding one (a Sybil), with or without an allow-list", () => {
    for (const firstUse of [{ runDir: "runs/study" }, undefined]) {
      const lines: string[] = [];
      const bindings = createKeyBindings({ log: (l) => lines.push(l), firstUse });
      bindings.claim("node_a", "sha256:aa");
      for (const id of ["node_b", "node_c", "node_d", "node_e"]) {
        assert.throws(
          () => bindings.claim(id, "sha256:aa"),
          (error: ConnectError) =>
            error.code === Code.PermissionDenied &&
            /Key sha256:aa already holds node id node_a for this run/.test(error.message),
        );
      }
      assert.deepEqual(bindings.entries(), { node_a: "sha256:aa" });
      assert.match(
        lines.at(-1) ?? "",
        /claiming node id node_e with key sha256:aa: that key already holds node id node_a/,
      );
      bindings.claim("node_a", "sha256:aa");
      bindings.claim("node_b", "sha256:bb");
    }
  });

  it("keeps what a run folder recorded before the rule (two ids on one key) on --resume", () => {
    const bindings = createKeyBindings({ initial: { node_a: "sha256:aa", node_b: "sha256:aa" } });
    bindings.claim("node_a", "sha256:aa");
    bindings.claim("node_b", "sha256:aa");
    assert.throws(() => bindings.claim("node_c", "sha256:aa"), ConnectError);
  });
});
