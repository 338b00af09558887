import { setTimeout as delay } from "node:timers/promises";

/** How long a test waits for something that should happen: generous, a busy machine can be many times slower. */
export const DEADLINE_MS = 120_000;

/** Resolves once `condition()` holds (checked every 10 ms); throws naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = DEADLINE_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Waited ${timeoutMs / 1000} s for ${what}`);
    await delay(10);
  }
}
