/**
 * How the threads of a data-parallel step wait for each other (data-parallel-step.ts, worker.ts): check a
 * control slot for a while, then sleep in `Atomics.wait`. Sleeping is dear when the partner is only
 * microseconds away: the sleeper wakes tens of microseconds late and the waker pays a futex wake in
 * `Atomics.notify` (on a quiet 2-core VM, the MLP's step is about 0.5 ms). Spinning is dear when the
 * partner is far, above all on a loaded machine, where the partner may not even be on a core and the
 * spin burns CPU that others could use. So each place a thread waits keeps its own budget, learnt from
 * its recent waits: a wait that ended within the longest spin (`maxSpins` loads) means spinning would
 * have caught it, so the budget grows back; a longer one means the partner was far, so it halves. On a
 * quiet machine the budget stays at its maximum and the threads rarely sleep; under load it falls to
 * nothing within a dozen steps and they sleep as before.
 */

/** The longest spin, in `Atomics.load`s: about 60 µs at the ~15 ns a load took on a 2-core Xeon VM. */
export const maxSpins = 4096;
/** One waiting place's spin budget (mutable: `waitFor` adjusts it after each wait). */
export interface SpinBudget {
  spins: number;
  /** A sleep this short (ms) would have been caught by the longest spin. */
  shortMs: number;
}

export function createSpinBudget(): SpinBudget {
  return { spins: maxSpins, shortMs: 0.06 };
}

/**
 * Waits until `done()` holds, control[slot] being the value that changes when it may (Atomics.wait's
 * address): first up to `budget.spins` checks, then sleeps of at most `sleepMs` (calling `check`, which may
 * throw to give up, between them). The budget learns from the wait (see above).
 */
export function waitFor(
  control: Int32Array,
  slot: number,
  done: (seen: number) => boolean,
  budget: SpinBudget,
  check?: () => void,
  sleepMs = 1000,
): void {
  for (let spin = 0; spin < budget.spins; spin++) if (done(Atomics.load(control, slot))) return;
  const started = performance.now();
  for (;;) {
    const seen = Atomics.load(control, slot);
    if (done(seen)) break;
    check?.();
    Atomics.wait(control, slot, seen, sleepMs);
  }
  budget.spins =
    performance.now() - started <= budget.shortMs
      ? Math.min(maxSpins, Math.max(64, budget.spins * 2))
      : budget.spins >> 1;
}
