import { z } from "zod";
import { InputError } from "../../common/errors.js";

/** Durations in experiment files: `"500ms"`, `"60s"`, `"10m"`, `"1h"` or a plain number of seconds. */

const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const pattern = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const hint = 'use a number of seconds or a number with ms, s, m or h, e.g. "500ms", "60s", "10m", "1h"';

/** Milliseconds of a duration, or undefined when `value` is not one. */
export function durationMs(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const match = pattern.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * units[(match[2] ?? "s") as keyof typeof units]);
}

/** Like `durationMs` but throws an InputError naming the bad value. */
export function parseDuration(value: string | number): number {
  const ms = durationMs(value);
  if (ms === undefined) throw new InputError(`Invalid duration ${JSON.stringify(value)}: ${hint}`);
  return ms;
}

/** Zod schema: a duration in, milliseconds out; the issue quotes the bad value. */
export const durationSchema = z
  .unknown()
  .transform((value, ctx) => {
    const ms = typeof value === "number" || typeof value === "string" ? durationMs(value) : undefined;
    if (ms !== undefined) return ms;
    ctx.addIssue({ code: "custom", message: `invalid duration ${JSON.stringify(value)} (${hint})`, input: value });
    return z.NEVER;
  })
  .meta({
    anyOf: [
      { type: "number", minimum: 0 },
      { type: "string", pattern: pattern.source },
    ],
    description: "seconds, or a number with ms, s, m or h",
  });
