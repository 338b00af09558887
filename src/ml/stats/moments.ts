/**
 * Count, sum, mean and M2 (sum of squared deviations from the mean) of a stream of values, and their
 * exact combination across datasets (Chan, Golub & LeVeque's parallel update): pooled figures equal
 * those of the concatenated data up to rounding, never a weighted mean of standard deviations.
 */
export interface Moments {
  count: number;
  sum: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export function emptyMoments(): Moments {
  return { count: 0, sum: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity };
}

/** Adds one value (Welford's update: stable in one pass). */
export function addValue(m: Moments, value: number): void {
  m.count++;
  m.sum += value;
  const delta = value - m.mean;
  m.mean += delta / m.count;
  m.m2 += delta * (value - m.mean);
  if (value < m.min) m.min = value;
  if (value > m.max) m.max = value;
}

/** The moments of two datasets taken together. */
export function combineMoments(a: Moments, b: Moments): Moments {
  if (a.count === 0) return { ...b };
  if (b.count === 0) return { ...a };
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  return {
    count,
    sum: a.sum + b.sum,
    mean: a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
}

/** Sample variance (n − 1 in the denominator, as pandas); undefined below 2 values. */
export function sampleVariance(m: Pick<Moments, "count" | "m2">): number | undefined {
  return m.count > 1 ? Math.max(0, m.m2) / (m.count - 1) : undefined;
}
