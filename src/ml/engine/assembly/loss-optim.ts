// AssemblyScript: losses (value and gradient with respect to the network output) and optimizer updates.
// Each formula is the one tfjs 4.22 differentiates (src/ml/losses.ts) or applies (tfjs-core optimizers),
// so the fast path and the tfjs path train to the same parameters up to float rounding.

const BCE = 0;
const CCE = 1;
const MSE = 2;
const MAE = 3;
const HUBER = 4;
const EPSILON: f32 = 1e-7;

/**
 * Loss of `rows` outputs p[rows, units] against labels y (class indices for CCE, values otherwise);
 * writes dp = ∂(Σ loss / divisor)/∂p and returns Σ loss (the caller divides). Probabilities are clipped to
 * [1e-7, 1 − 1e-7] as Keras does, and the clip passes no gradient outside that range, as in tfjs.
 */
export function lossForward(kind: i32, p: usize, y: usize, rows: i32, units: i32, divisor: f32, dp: usize): f64 {
  let total: f64 = 0;
  const scale: f32 = 1 / divisor;
  if (kind == CCE) {
    memory.fill(dp, 0, (<usize>rows * <usize>units) << 2);
    for (let r = 0; r < rows; r++) {
      const at = (<usize>r * <usize>units + <usize>(<i32>load<f32>(y + (<usize>r << 2)))) << 2;
      const v = load<f32>(p + at);
      const clipped = Mathf.min(Mathf.max(v, EPSILON), 1 - EPSILON);
      total -= <f64>Mathf.log(clipped);
      if (v >= EPSILON && v <= 1 - EPSILON) store<f32>(dp + at, -scale / clipped);
    }
    return total;
  }
  const n = rows * units;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(p + o);
    const t = load<f32>(y + ((<usize>(i / units)) << 2));
    let g: f32 = 0;
    if (kind == BCE) {
      const c = Mathf.min(Mathf.max(v, EPSILON), 1 - EPSILON);
      total -= <f64>(t * Mathf.log(c) + (1 - t) * Mathf.log(1 - c));
      if (v >= EPSILON && v <= 1 - EPSILON) g = -(t / c - (1 - t) / (1 - c)) * scale;
    } else if (kind == MSE) {
      const d = v - t;
      total += <f64>(d * d);
      g = 2 * d * scale;
    } else if (kind == MAE) {
      const d = v - t;
      total += <f64>Mathf.abs(d);
      g = (d > 0 ? <f32>1 : d < 0 ? <f32>-1 : <f32>0) * scale;
    } else if (kind == HUBER) {
      const d = v - t;
      const e = Mathf.abs(d);
      const q = Mathf.min(e, 1);
      total += <f64>(0.5 * q * q + (e - q));
      g = Mathf.min(Mathf.max(d, -1), 1) * scale;
    }
    store<f32>(dp + o, g);
  }
  return total;
}

/** y[i] += alpha · x[i]. */
export function axpy(n: i32, alpha: f32, x: usize, y: usize): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(a, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** x[i] *= s. */
export function scale(n: i32, s: f32, x: usize): void {
  const v = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), v));
  }
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * s);
}

/** Plain SGD: w += (−lr)·g. */
export function sgd(n: i32, lr: f32, w: usize, g: usize): void {
  axpy(n, -lr, g, w);
}

/** tfjs momentum: acc = m·acc + g; w += (−lr)·acc. */
export function momentum(n: i32, lr: f32, m: f32, w: usize, g: usize, acc: usize): void {
  const mv = f32x4.splat(m);
  const lv = f32x4.splat(-lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const a = f32x4.add(f32x4.mul(mv, v128.load(acc + o)), v128.load(g + o));
    v128.store(acc + o, a);
    v128.store(w + o, f32x4.add(f32x4.mul(lv, a), v128.load(w + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const a = m * load<f32>(acc + o) + load<f32>(g + o);
    store<f32>(acc + o, a);
    store<f32>(w + o, -lr * a + load<f32>(w + o));
  }
}

/**
 * tfjs Adam: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; w += −lr · (m / c1) / (√(v / c2) + ε),
 * with c1 = 1 − β1^t and c2 = 1 − β2^t passed in by the caller.
 */
export function adam(n: i32, lr: f32, b1: f32, b2: f32, eps: f32, c1: f32, c2: f32, w: usize, g: usize, m: usize, v: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = load<f32>(m + o) * b1 + gi * (1 - b1);
    const vi = load<f32>(v + o) * b2 + gi * gi * (1 - b2);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(w + o, ((mi / c1) / (Mathf.sqrt(vi / c2) + eps)) * -lr + load<f32>(w + o));
  }
}

/** tfjs RMSProp (not centered): ms = ρ·ms + (1−ρ)·g²; mom = μ·mom + lr·g/√(ms + ε); w −= mom. */
export function rmsprop(n: i32, lr: f32, rho: f32, mu: f32, eps: f32, w: usize, g: usize, ms: usize, mom: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const s = load<f32>(ms + o) * rho + gi * gi * (1 - rho);
    const m = load<f32>(mom + o) * mu + (gi * lr) / Mathf.sqrt(s + eps);
    store<f32>(ms + o, s);
    store<f32>(mom + o, m);
    store<f32>(w + o, load<f32>(w + o) - m);
  }
}

/** tfjs Adagrad: acc += g²; w += −lr · g / √(acc + ε). */
export function adagrad(n: i32, lr: f32, eps: f32, w: usize, g: usize, acc: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const a = load<f32>(acc + o) + gi * gi;
    store<f32>(acc + o, a);
    store<f32>(w + o, (gi / Mathf.sqrt(a + eps)) * -lr + load<f32>(w + o));
  }
}
