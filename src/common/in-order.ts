/**
 * Like `Promise.all`, but when several reject it throws the first rejection in array order, not the
 * first in time: an error message naming one of several missing files or failing nodes is then the
 * same on every run. It waits for every promise to settle before throwing.
 */
export async function allInOrder<T extends readonly unknown[] | []>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = (await Promise.allSettled(promises)) as PromiseSettledResult<unknown>[];
  const values: unknown[] = [];
  for (const s of settled) {
    if (s.status === "rejected") throw s.reason;
    values.push(s.value);
  }
  return values as { -readonly [K in keyof T]: Awaited<T[K]> };
}
