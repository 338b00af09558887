/** The few command-line flags the benchmarks take: `--quick`, `--name value`. */

/** Whether the benchmark was asked to shrink its sizes (`--quick`). */
export function isQuick(argv: readonly string[] = process.argv): boolean {
  return argv.includes("--quick");
}

/** The number after `--name` (e.g. `--updates 500`), or `fallback`; throws on a value that is not a number. */
export function numberFlag(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const at = argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value)) throw new Error(`Flag --${name} needs a number, got "${argv[at + 1] ?? ""}"`);
  return value;
}

/** Whether `--name` is present. */
export function hasFlag(name: string, argv: readonly string[] = process.argv): boolean {
  return argv.includes(`--${name}`);
}
