import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, formatDuration, logSettings } from "../../src/common/log.js";

const at = new Date("2026-11-29T12:00:00.000Z");

function capture(options: Parameters<typeof createLogger>[0] extends infer O ? Omit<O, "write"> : never = {}) {
  const lines: string[] = [];
  let now = at.getTime();
  const logger = createLogger({ write: (t) => lines.push(t), now: () => new Date(now), ...options });
  return { logger, lines, advance: (ms: number) => (now += ms) };
}

describe("createLogger()", () => {
  it("prefixes each line with the ISO time and the level", () => {
    const { logger, lines } = capture();
    logger.info("Connected");
    logger.warn("Lost");
    assert.deepEqual(lines, ["2026-11-29T12:00:00.000Z INFO  Connected\n", "2026-11-29T12:00:00.000Z WARN  Lost\n"]);
  });

  it("writes one JSON object per line with --log-format json", () => {
    const { logger, lines } = capture({ format: "json" });
    logger.error('a "quoted" message');
    assert.deepEqual(JSON.parse(lines[0]), {
      time: "2026-11-29T12:00:00.000Z",
      level: "error",
      msg: 'a "quoted" message',
    });
  });

  it("drops info with --quiet, shows debug only with --verbose", () => {
    for (const [verbosity, expected] of [
      ["quiet", ["WARN"]],
      ["normal", ["INFO", "WARN"]],
      ["verbose", ["DEBUG", "INFO", "WARN"]],
    ] as const) {
      const { logger, lines } = capture({ verbosity });
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
      assert.deepEqual(
        lines.map((l) => l.split(" ")[1]),
        expected,
        verbosity,
      );
    }
  });

  it("throttled() logs a recurring event once, then at most once per interval", () => {
    const { logger, lines, advance } = capture();
    for (let i = 0; i < 40; i++) {
      logger.throttled("plan x", 60_000, "warn", "Plan x awaits approval");
      advance(2_000); // the researcher asks again every 2 s
    }
    assert.equal(lines.length, 2, lines.join(""));
    logger.throttled("plan y", 60_000, "warn", "Plan y awaits approval");
    assert.equal(lines.length, 3, "another key is its own event");
  });
});

describe("logSettings()", () => {
  it("maps the flags and refuses contradictions and unknown formats", () => {
    assert.deepEqual(logSettings({}), { format: "text", verbosity: "normal" });
    assert.deepEqual(logSettings({ quiet: true, logFormat: "json" }), { format: "json", verbosity: "quiet" });
    assert.throws(() => logSettings({ quiet: true, verbose: true }), /contradict/);
    assert.throws(() => logSettings({ logFormat: "xml" }), /Invalid --log-format "xml": give text or json/);
  });
});

describe("formatDuration()", () => {
  it("says seconds, then minutes and seconds", () => {
    assert.deepEqual([0, 42_400, 60_000, 598_000].map(formatDuration), ["0 s", "42 s", "1 min", "9 min 58 s"]);
  });
});
