// What an exec step tells its starter, on a close-on-exec pipe: a mark when
// it waits for the word (all its code loaded: it needs no file any more),
// then end of file if the program runs, or one JSON failure if it never did.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { readInto, writeAll } from "../libc/file.ts";
import { FdWatcher } from "../fdwatch/fd-watcher.ts";
import type { SpawnStage } from "../protocol/outcome.ts";
import { EIO } from "../libc/errno-values.ts";

export interface StepFailure {
  stage: SpawnStage;
  errno: number;
}

const WAITING = 0x2e;

/** The step's side. */
export const stepReport = {
  waiting(fd: number): void {
    writeAll(fd, new Uint8Array([WAITING]));
  },
  failed(fd: number, failure: StepFailure): void {
    writeAll(fd, new TextEncoder().encode(JSON.stringify(failure)));
  },
};

/** The starter's side; `report` stays the caller's to close. */
export class StepReportReader {
  readonly #report: OwnedFd;
  readonly #buffer = new Uint8Array(4096);
  #pending = new Uint8Array(0);
  #ended = false;

  constructor(report: OwnedFd) {
    this.#report = report;
  }

  /** True once the step waits for the word; false if it ended (or failed) before. */
  async waiting(): Promise<boolean> {
    while (this.#pending.length === 0 && !this.#ended) await this.#fill();
    if (this.#pending[0] !== WAITING) return false;
    this.#pending = this.#pending.subarray(1);
    return true;
  }

  /** Null when the program runs (end of file with nothing said), else why it did not. */
  async result(): Promise<StepFailure | null> {
    const parts: Uint8Array[] = [this.#pending];
    this.#pending = new Uint8Array(0);
    while (!this.#ended) parts.push(await this.#fill(true));
    const text = parts.map((part) => new TextDecoder().decode(part)).join("");
    if (text === "") return null;
    try {
      return JSON.parse(text) as StepFailure;
    } catch {
      // Cut short: the step died while writing it.
      return { stage: "setup", errno: EIO };
    }
  }

  async #fill(take = false): Promise<Uint8Array> {
    for (;;) {
      const got = readInto(this.#report.fd, this.#buffer);
      if (got === "again") {
        await FdWatcher.shared().readable(this.#report.fd);
        continue;
      }
      if (got === 0) {
        this.#ended = true;
        return new Uint8Array(0);
      }
      const read = this.#buffer.slice(0, got);
      if (!take) this.#pending = read;
      return read;
    }
  }
}
