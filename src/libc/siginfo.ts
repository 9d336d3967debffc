// siginfo_t as waitid(2) fills it (LP64 Linux): signo@0 errno@4 code@8
// pid@16 uid@20 status@24; 128 bytes in all.
export const SIGINFO_BYTES = 128;

export class SigInfo {
  readonly bytes = new Uint8Array(SIGINFO_BYTES);
  readonly #view = new DataView(this.bytes.buffer);

  /** 0 while no child changed state (waitid with WNOHANG). */
  get pid(): number {
    return this.#view.getInt32(16, true);
  }

  /** CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_CONTINUED, ... */
  get code(): number {
    return this.#view.getInt32(8, true);
  }

  /** Exit code for CLD_EXITED, else the signal number. */
  get status(): number {
    return this.#view.getInt32(24, true);
  }

  clear(): void {
    this.bytes.fill(0);
  }
}
