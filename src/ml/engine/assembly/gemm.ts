// AssemblyScript (compiled to WebAssembly SIMD by `npm run build:kernels`, not by tsc).
// Single-precision matrix multiply, the one routine every dense and convolution pass runs through.

/** Depth of one pass over K: a packed 8-column sliver of B (KC × 8 floats, 8 KiB) stays in L1. */
const KC = 256;

/**
 * c + a·b on four lanes. The kernels are built twice (scripts/build-kernels.ts): with relaxed SIMD this is
 * f32x4.relaxed_madd, one fused multiply-add where the CPU has FMA (V8 emits vfmadd on x64 with FMA3,
 * a multiply and an add elsewhere), which doubles the micro-kernels' arithmetic per instruction; the plain
 * SIMD build (runtimes without relaxed SIMD) keeps the multiply and the add. Either way one build gives one
 * result on one machine: the choice is made at compile time, not per call.
 */
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * C[M,N] = beta·C + A·B, beta 0 or 1. A's element (i, k) is at a + 4·(i·ars + k·acs), so A can be read
 * transposed in place (ars = 1, acs = rows); B and C are row-major with leading dimensions ldb, ldc.
 * `pack` is scratch for KC × 8 floats. K is cut into passes of KC; in each pass every 8-column sliver of
 * B is copied to `pack` (contiguous, so it stays in L1 while all rows use it), then 4 × 8 register
 * blocks (8 f32x4 accumulators) run over it; edges take 1 × 8, 4-column and scalar paths.
 */
export function gemm(
  M: i32, N: i32, K: i32,
  a: usize, ars: i32, acs: i32,
  b: usize, ldb: i32,
  c: usize, ldc: i32,
  beta: i32, pack: usize,
): void {
  const aRow = <usize>ars << 2;
  const aCol = <usize>acs << 2;
  const bRow = <usize>ldb << 2;
  const cRow = <usize>ldc << 2;
  if (K == 0) {
    if (beta == 0) for (let i = 0; i < M; i++) memory.fill(c + <usize>i * cRow, 0, <usize>N << 2);
    return;
  }
  for (let p = 0; p < K; p += KC) {
    const kc = min(KC, K - p);
    const first = p == 0 ? beta : 1;
    const ap = a + <usize>p * aCol;
    const bp = b + <usize>p * bRow;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const sliver = bp + (<usize>j << 2);
      for (let k = 0; k < kc; k++) {
        const from = sliver + <usize>k * bRow;
        const to = pack + (<usize>k << 5);
        v128.store(to, v128.load(from));
        v128.store(to, v128.load(from, 16), 16);
      }
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        block4x8(kc, ap + <usize>i * aRow, aRow, aCol, pack, 32, c + <usize>i * cRow + (<usize>j << 2), cRow, first);
      }
      for (; i < M; i++) block1x8(kc, ap + <usize>i * aRow, aCol, pack, 32, c + <usize>i * cRow + (<usize>j << 2), first);
    }
    for (; j + 4 <= N; j += 4) {
      let i = 0;
      for (; i + 4 <= M; i += 4) {
        block4x4(kc, ap + <usize>i * aRow, aRow, aCol, bp + (<usize>j << 2), bRow, c + <usize>i * cRow + (<usize>j << 2), cRow, first);
      }
      for (; i < M; i++) {
        for (let jj = j; jj < j + 4; jj++) scalarDot(kc, ap + <usize>i * aRow, aCol, bp + (<usize>jj << 2), bRow, c + <usize>i * cRow + (<usize>jj << 2), first);
      }
    }
    for (; j < N; j++) {
      for (let i = 0; i < M; i++) scalarDot(kc, ap + <usize>i * aRow, aCol, bp + (<usize>j << 2), bRow, c + <usize>i * cRow + (<usize>j << 2), first);
    }
  }
}

// @ts-ignore: decorator
@inline
function block4x8(K: i32, a: usize, aRow: usize, aCol: usize, b: usize, bRow: usize, c: usize, cRow: usize, beta: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const a1 = a + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
  let ak: usize = 0;
  let bk = b;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bk);
    const b1 = v128.load(bk, 16);
    const x0 = v128.load32_splat(a + ak);
    c00 = madd(x0, b0, c00);
    c01 = madd(x0, b1, c01);
    const x1 = v128.load32_splat(a1 + ak);
    c10 = madd(x1, b0, c10);
    c11 = madd(x1, b1, c11);
    const x2 = v128.load32_splat(a2 + ak);
    c20 = madd(x2, b0, c20);
    c21 = madd(x2, b1, c21);
    const x3 = v128.load32_splat(a3 + ak);
    c30 = madd(x3, b0, c30);
    c31 = madd(x3, b1, c31);
    ak += aCol;
    bk += bRow;
  }
  const r1 = c + cRow, r2 = r1 + cRow, r3 = r2 + cRow;
  if (beta != 0) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(r1)); c11 = f32x4.add(c11, v128.load(r1, 16));
    c20 = f32x4.add(c20, v128.load(r2)); c21 = f32x4.add(c21, v128.load(r2, 16));
    c30 = f32x4.add(c30, v128.load(r3)); c31 = f32x4.add(c31, v128.load(r3, 16));
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
}

// @ts-ignore: decorator
@inline
function block4x4(K: i32, a: usize, aRow: usize, aCol: usize, b: usize, bRow: usize, c: usize, cRow: usize, beta: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  const a1 = a + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
  let ak: usize = 0;
  let bk = b;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bk);
    c0 = madd(v128.load32_splat(a + ak), b0, c0);
    c1 = madd(v128.load32_splat(a1 + ak), b0, c1);
    c2 = madd(v128.load32_splat(a2 + ak), b0, c2);
    c3 = madd(v128.load32_splat(a3 + ak), b0, c3);
    ak += aCol;
    bk += bRow;
  }
  const r1 = c + cRow, r2 = r1 + cRow, r3 = r2 + cRow;
  if (beta != 0) {
    c0 = f32x4.add(c0, v128.load(c));
    c1 = f32x4.add(c1, v128.load(r1));
    c2 = f32x4.add(c2, v128.load(r2));
    c3 = f32x4.add(c3, v128.load(r3));
  }
  v128.store(c, c0);
  v128.store(r1, c1);
  v128.store(r2, c2);
  v128.store(r3, c3);
}

// @ts-ignore: decorator
@inline
function block1x8(K: i32, a: usize, aCol: usize, b: usize, bRow: usize, c: usize, beta: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let ak: usize = 0;
  let bk = b;
  for (let k = 0; k < K; k++) {
    const x = v128.load32_splat(a + ak);
    c0 = madd(x, v128.load(bk), c0);
    c1 = madd(x, v128.load(bk, 16), c1);
    ak += aCol;
    bk += bRow;
  }
  if (beta != 0) {
    c0 = f32x4.add(c0, v128.load(c));
    c1 = f32x4.add(c1, v128.load(c, 16));
  }
  v128.store(c, c0);
  v128.store(c, c1, 16);
}

// @ts-ignore: decorator
@inline
function scalarDot(K: i32, a: usize, aCol: usize, b: usize, bRow: usize, c: usize, beta: i32): void {
  let sum: f32 = 0;
  let ak: usize = 0;
  let bk = b;
  for (let k = 0; k < K; k++) {
    sum += load<f32>(a + ak) * load<f32>(bk);
    ak += aCol;
    bk += bRow;
  }
  store<f32>(c, beta != 0 ? load<f32>(c) + sum : sum);
}

/** dst[cols, rows] = src[rows, cols]ᵀ. */
export function transpose(src: usize, rows: i32, cols: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = src + ((<usize>r * <usize>cols) << 2);
    for (let c = 0; c < cols; c++) store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(s + (<usize>c << 2)));
  }
}
