import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { notifySystemdReady } from "../../../src/node/serve/readiness.js";

describe("notifySystemdReady()", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-notify-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in for systemd's helper that records how it was called and with which socket.
  const record = join(dir, "called");
  writeFileSync(join(dir, "systemd-notify"), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" > "${record}"\n`);
  chmodSync(join(dir, "systemd-notify"), 0o755);

  it("does nothing outside systemd (no NOTIFY_SOCKET)", async () => {
    assert.equal(await notifySystemdReady(() => {}, { PATH: dir }), false);
  });

  it("runs `systemd-notify --ready` when systemd gave a NOTIFY_SOCKET", async () => {
    assert.equal(await notifySystemdReady(() => {}, { PATH: dir, NOTIFY_SOCKET: "/run/systemd/notify" }), true);
    assert.equal(readFileSync(record, "utf8"), "/run/systemd/notify --ready\n");
  });

  it("says so, without failing, when systemd-notify is missing", async () => {
    const logs: string[] = [];
    const empty = mkdtempSync(join(dir, "empty-"));
    assert.equal(await notifySystemdReady((l) => logs.push(l), { PATH: empty, NOTIFY_SOCKET: "/x" }), false);
    assert.match(logs[0], /^Could not tell systemd the node is ready \(systemd-notify: /);
  });
});
