// AssemblyScript: the float-run helpers the window and normalization kernels share (inlined where used).

/** Copies n floats; short runs (a few channels) by hand, where memory.copy's call would dominate. */
// @ts-ignore: decorator
@inline
export function copyFloats(to: usize, from: usize, n: i32): void {
  if (n > 64) {
    memory.copy(to, from, <usize>n << 2);
    return;
  }
  let i: usize = 0;
  const bytes = <usize>n << 2;
  for (; i + 16 <= bytes; i += 16) v128.store(to + i, v128.load(from + i));
  for (; i < bytes; i += 4) store<f32>(to + i, load<f32>(from + i));
}

/** to[i] += from[i] for n floats. */
// @ts-ignore: decorator
@inline
export function addFloats(to: usize, from: usize, n: i32): void {
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(to + o, f32x4.add(v128.load(to + o), v128.load(from + o)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(to + o, load<f32>(to + o) + load<f32>(from + o));
  }
}
