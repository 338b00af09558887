import type { RoundPhases } from "./types.js";

/** Times a round phase by phase: each `lap` charges the time since the previous lap to one phase. */
export interface PhaseClock {
  lap(phase: keyof RoundPhases): void;
  readonly phases: RoundPhases;
}

export function createPhaseClock(): PhaseClock {
  const phases: RoundPhases = { load: 0, prepare: 0, build: 0, setup: 0, steps: 0, validate: 0, copy: 0 };
  let last = performance.now();
  return {
    phases,
    lap(phase) {
      const now = performance.now();
      phases[phase] += (now - last) / 1000;
      last = now;
    },
  };
}

/** "load 1 ms, prepare 3 ms, …" in the phases' order, for the node's log. */
export function formatPhases(phases: RoundPhases): string {
  return Object.entries(phases)
    .map(([name, seconds]) => `${name} ${(seconds * 1000).toFixed(1)} ms`)
    .join(", ");
}
