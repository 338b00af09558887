/**
 * JPEG 2000 codestreams for DICOM test fixtures, encoded losslessly by OpenJPEG (the full build of
 * @cornerstonejs/codec-openjpeg, whose decode-only build fbm reads them with): decoding must give back
 * exactly the samples written.
 */

interface OpenJpegEncoderModule {
  J2KEncoder: new () => {
    getDecodedBuffer(info: {
      width: number;
      height: number;
      bitsPerSample: number;
      componentCount: number;
      isSigned: boolean;
      isUsingColorSpace: boolean;
    }): Uint8Array;
    setQuality(lossless: boolean, quality: number): void;
    encode(): void;
    getEncodedBuffer(): Uint8Array;
    delete(): void;
  };
}

/** One grayscale frame, `width × height` samples row by row, 8 or 16 bits, lossless. */
export async function j2kFrame(
  values: ArrayLike<number>,
  width: number,
  height: number,
  options: { bits: 8 | 16; signed?: boolean },
): Promise<Uint8Array> {
  const factory = (await import("@cornerstonejs/codec-openjpeg/wasmjs"))
    .default as () => Promise<OpenJpegEncoderModule>;
  const codec = await factory();
  const encoder = new codec.J2KEncoder();
  try {
    const signed = options.signed ?? false;
    const samples =
      options.bits === 8
        ? signed
          ? Int8Array.from(values)
          : Uint8Array.from(values)
        : signed
          ? Int16Array.from(values)
          : Uint16Array.from(values);
    const input = encoder.getDecodedBuffer({
      width,
      height,
      bitsPerSample: options.bits,
      componentCount: 1,
      isSigned: signed,
      isUsingColorSpace: false,
    });
    input.set(new Uint8Array(samples.buffer));
    encoder.setQuality(true, 0);
    encoder.encode();
    return Uint8Array.from(encoder.getEncodedBuffer());
  } finally {
    encoder.delete();
  }
}
