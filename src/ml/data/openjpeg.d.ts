// @cornerstonejs/codec-openjpeg ships no type declarations; dicom-j2k.ts types what it uses.
declare module "@cornerstonejs/codec-openjpeg/decodewasmjs" {
  const factory: (options?: Record<string, unknown>) => Promise<unknown>;
  export default factory;
}
// The full build (encoder too), used by scripts/lib/j2k-writer.ts for test fixtures.
declare module "@cornerstonejs/codec-openjpeg/wasmjs" {
  const factory: (options?: Record<string, unknown>) => Promise<unknown>;
  export default factory;
}
