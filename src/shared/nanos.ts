/**
 * Nanosecond instants and 64-bit ids in int64 columns without a BigInt per row: a BigInt64Array is
 * read and written through an Int32Array view of its buffer (two halves per value), with values
 * computed in exact double arithmetic. seconds·10⁹ = (seconds·1953125)·2⁹, and seconds·1953125 is
 * exact below 2⁵³, i.e. for any instant before early 2116.
 */
export const TWO_POW_32 = 4294967296;

/** Where an int64's low and high 32 bits sit in an Int32Array view of it: the platform's byte order. */
export const LOW_HALF = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
export const HIGH_HALF = 1 - LOW_HALF;

/** The latest second `writeNanos` can store. */
export const MAX_NANOS_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1953125);

/** An int64 column seen as 32-bit halves. */
export function int64Halves(column: BigInt64Array): Int32Array {
  return new Int32Array(column.buffer, column.byteOffset, column.length * 2);
}

/** Row `row` := high·2³² + low, for 0 ≤ low, high < 2³² (the Int32Array keeps their bits). */
export function setInt64(halves: Int32Array, row: number, low: number, high: number): void {
  halves[2 * row + LOW_HALF] = low;
  halves[2 * row + HIGH_HALF] = high;
}

/** Row `row` := value, a whole number in [0, 2⁵³). */
export function setWholeNumber(halves: Int32Array, row: number, value: number): void {
  const low = value % TWO_POW_32;
  setInt64(halves, row, low, (value - low) / TWO_POW_32);
}

/** UTC ms as nanoseconds, exactly. */
export function nsOfMs(ms: number): bigint {
  return BigInt(ms) * 1_000_000n;
}

/** Store seconds·10⁹ + nanos at `row` (0 ≤ seconds ≤ MAX_NANOS_SECONDS whole, 0 ≤ nanos < 10⁹ whole). */
export function writeNanos(halves: Int32Array, row: number, seconds: number, nanos: number): void {
  const scaled = seconds * 1953125;
  // scaled·512 split at bit 32: the low 23 bits of `scaled` shifted by 9, and the rest above.
  const scaledLow = scaled % 8388608;
  let low = scaledLow * 512 + nanos;
  let high = (scaled - scaledLow) / 8388608;
  if (low >= TWO_POW_32) {
    low -= TWO_POW_32;
    high++;
  }
  setInt64(halves, row, low, high);
}
