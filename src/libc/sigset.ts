// sigset_t as a bigint: bit n-1 stands for signal n (1..64). The C type is
// 128 bytes; Linux uses the first 8. Filling the bytes ourselves covers all
// 64 signals: glibc's sigfillset leaves out its two internal ones (32, 33).
export const SIGSET_BYTES = 128;
export const ALL_SIGNALS = (1n << 64n) - 1n;

export function sigsetBytes(set: bigint): Uint8Array {
  const bytes = new Uint8Array(SIGSET_BYTES);
  new DataView(bytes.buffer).setBigUint64(0, set & ALL_SIGNALS, true);
  return bytes;
}

export function readSigset(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true);
}

export function signalBit(signal: number): bigint {
  return 1n << BigInt(signal - 1);
}

export function hasSignal(set: bigint, signal: number): boolean {
  return (set & signalBit(signal)) !== 0n;
}

/** The signal numbers in `set`, ascending. */
export function signalsIn(set: bigint): number[] {
  const out: number[] = [];
  for (let n = 1; n <= 64; n++) if (hasSignal(set, n)) out.push(n);
  return out;
}
