// The client reads the spawner's replies through Bun's own fd reader: no
// worker thread and no FFI wait, so a thin client starts fast. That is safe
// because replies never carry fds (a plain read(2) would drop them). The
// reader gets its own duplicate of the socket so closing it never affects
// the fd requests are sent on.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { duplicate } from "../libc/file.ts";
import { receiveRecord } from "../fdpass/seqpacket.ts";
import { MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { RecordStreamDecoder, type Record } from "../protocol/v2.ts";

export class ReplyTimeout extends Error {
  constructor(ms: number) {
    super(`no reply within ${ms} ms`);
    this.name = "ReplyTimeout";
  }
}

/** Where a client's replies come from: Bun's fd reader, or poll(2) (polling-reply-reader.ts). */
export interface ReplySource {
  /** The next v2 record, or null at end of file. */
  next(timeoutMs?: number): Promise<Record | null>;
  /** Everything until end of file, undecoded (protocol v1's 4-byte status). */
  rest(limit: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export class ReplyReader implements ReplySource {
  readonly #fd: OwnedFd;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new RecordStreamDecoder();
  readonly #records: Record[] = [];
  #raw: Uint8Array[] = [];
  #ended = false;
  // A read outlives a timeout; the next pull must reuse it or its data is lost.
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

  constructor(sock: OwnedFd) {
    this.#fd = duplicate(sock.fd);
    this.#reader = Bun.file(this.#fd.fd).stream().getReader();
  }

  /** The next v2 record, or null at end of file. */
  async next(timeoutMs?: number): Promise<Record | null> {
    while (this.#records.length === 0) {
      if (this.#ended) return null;
      await this.#pull(timeoutMs);
    }
    return this.#records.shift()!;
  }

  /** Everything until end of file, undecoded (protocol v1's 4-byte status). */
  async rest(limit: number): Promise<Uint8Array> {
    let total = this.#raw.reduce((n, c) => n + c.length, 0);
    while (!this.#ended && total <= limit) {
      await this.#pull(undefined, true);
      total = this.#raw.reduce((n, c) => n + c.length, 0);
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.#raw) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  async #pull(timeoutMs: number | undefined, raw = false): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#pending ??= this.#reader.read().catch((error: { code?: string }) => {
      if (error?.code === "ECONNRESET") return this.#drainAfterReset();
      throw error;
    });
    const read = this.#pending;
    const result =
      timeoutMs === undefined
        ? await read
        : await Promise.race([
            read,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new ReplyTimeout(timeoutMs)), timeoutMs);
            }),
          ]).finally(() => clearTimeout(timer));
    this.#pending = null;
    if (result.done) {
      this.#ended = true;
      return;
    }
    if (raw) this.#raw.push(result.value);
    else this.#records.push(...this.#decoder.push(result.value));
  }

  /**
   * A spawner that closes while part of our request is still unread on its
   * side (a refusal) makes the kernel report ECONNRESET once, ahead of the
   * replies still queued for us. The stream is dead after that, but the
   * socket is not: read what is queued directly, up to end of file.
   */
  #drainAfterReset(): ReadableStreamReadResult<Uint8Array> {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const result = receiveRecord(this.#fd, MAX_RECORD_BYTES, 0);
      if (result.kind !== "record") break;
      chunks.push(result.data.slice());
    }
    if (chunks.length === 0) return { done: true, value: undefined };
    const value = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      value.set(chunk, offset);
      offset += chunk.length;
    }
    return { done: false, value };
  }

  async close(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch {
      // The stream may already be errored; the fd is still ours to close.
    }
    this.#fd.close();
  }
}
