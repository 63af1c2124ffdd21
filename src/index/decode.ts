/**
 * Half-precision decoding. Float16 and BFloat16 columns are decoded to float32 once per segment
 * scan (or once at SearchPool.register) and then searched with the float kernels, so the scores are
 * exactly those of the float32 values the 16-bit patterns denote.
 */

/** IEEE 754 binary16 patterns to float32 (subnormals, infinities and NaN included). */
export function decodeFloat16(
  src: Uint16Array,
  dst: Float32Array = new Float32Array(src.length),
): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) {
      // Zero or subnormal: m * 2^-24, exact in float32.
      const v = m * 2 ** -24;
      dst[i] = sign === 0 ? v : -v;
    } else if (e === 31) {
      bits[i] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    } else {
      bits[i] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
    }
  }
  return dst;
}

/** bfloat16 patterns are the top half of a float32. */
export function decodeBFloat16(
  src: Uint16Array,
  dst: Float32Array = new Float32Array(src.length),
): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return dst;
}
