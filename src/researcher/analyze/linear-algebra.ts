/**
 * Small dense linear algebra on symmetric positive definite p×p matrices (row-major Float64Array),
 * written once for every solver here (GLM IRLS, Cox Newton). p is the model's parameter count: tens.
 */

/** A matrix that is not positive definite: `column` is the first parameter whose pivot vanished. */
export class SingularMatrixError extends Error {
  constructor(readonly column: number) {
    super(`the matrix is singular at column ${column}`);
  }
}

/**
 * The lower Cholesky factor L (A = L Lᵀ). A pivot below `tolerance` × the largest diagonal entry
 * counts as zero (a collinear or constant column): SingularMatrixError names its column.
 */
export function cholesky(a: Float64Array, p: number, tolerance = 1e-10): Float64Array {
  const l = new Float64Array(p * p);
  let scale = 0;
  for (let i = 0; i < p; i++) scale = Math.max(scale, Math.abs(a[i * p + i]));
  for (let j = 0; j < p; j++) {
    let d = a[j * p + j];
    for (let k = 0; k < j; k++) d -= l[j * p + k] * l[j * p + k];
    if (!(d > tolerance * scale)) throw new SingularMatrixError(j);
    const root = Math.sqrt(d);
    l[j * p + j] = root;
    for (let i = j + 1; i < p; i++) {
      let s = a[i * p + j];
      for (let k = 0; k < j; k++) s -= l[i * p + k] * l[j * p + k];
      l[i * p + j] = s / root;
    }
  }
  return l;
}

/** x with A x = b, from A's Cholesky factor L. */
export function choleskySolve(l: Float64Array, p: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * p + k] * y[k];
    y[i] = s / l[i * p + i];
  }
  const x = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < p; k++) s -= l[k * p + i] * x[k];
    x[i] = s / l[i * p + i];
  }
  return x;
}

/** A⁻¹ from A's Cholesky factor L, column by column. */
export function choleskyInverse(l: Float64Array, p: number): Float64Array {
  const inverse = new Float64Array(p * p);
  const e = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    e.fill(0);
    e[j] = 1;
    const column = choleskySolve(l, p, e);
    for (let i = 0; i < p; i++) inverse[i * p + j] = column[i];
  }
  return inverse;
}
