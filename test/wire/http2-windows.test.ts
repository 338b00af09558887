import assert from "node:assert/strict";
import type http2 from "node:http2";
import { describe, it } from "node:test";
import { STREAM_WINDOW_BYTES, WAITING_WINDOW_BYTES, widenWhileAdmitted } from "../../src/wire/http2-windows.js";

/** A session that records the stream windows it was asked to announce. */
function fakeSession(options: { throws?: boolean } = {}) {
  const windows: number[] = [];
  const session = {
    destroyed: false,
    closed: false,
    settings(s: http2.Settings) {
      if (options.throws) throw new Error("ERR_HTTP2_MAX_PENDING_SETTINGS_ACK");
      windows.push(s.initialWindowSize as number);
    },
  };
  return { session: session as unknown as http2.Http2Session, windows };
}

describe("reply windows", () => {
  it("widens a node's stream windows while one of its replies is admitted, and narrows them after the last", () => {
    const { session, windows } = fakeSession();
    const first = widenWhileAdmitted(session);
    const second = widenWhileAdmitted(session);
    assert.deepEqual(windows, [STREAM_WINDOW_BYTES]);
    first();
    first(); // twice is once
    assert.deepEqual(windows, [STREAM_WINDOW_BYTES]);
    second();
    assert.deepEqual(windows, [STREAM_WINDOW_BYTES, WAITING_WINDOW_BYTES]);
  });

  it("leaves a closed session, one that refuses new SETTINGS, and no session at all alone", () => {
    const { session, windows } = fakeSession();
    (session as { closed: boolean }).closed = true;
    widenWhileAdmitted(session)();
    assert.deepEqual(windows, []);
    assert.doesNotThrow(() => widenWhileAdmitted(fakeSession({ throws: true }).session)());
    assert.doesNotThrow(() => widenWhileAdmitted(undefined)());
  });
});
