// struct msghdr and SCM_RIGHTS control messages, built and read by field
// name (LP64 Linux: x86-64 and aarch64 agree). Each builder keeps every
// buffer it points at referenced: bun:ffi passes raw pointers, and a buffer
// the GC freed or moved mid-call would be a use-after-free.
import { ptr } from "bun:ffi";
import { SCM_RIGHTS, SOL_SOCKET } from "./constants.ts";

// struct msghdr: name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48
const MSGHDR = { size: 56, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48 } as const;
// struct iovec: base@0 len@8
const IOVEC = { size: 16, base: 0, len: 8 } as const;
// struct cmsghdr: len u64@0, level i32@8, type i32@12, data@16
const CMSG = { header: 16, len: 0, level: 8, type: 12 } as const;

export const cmsgSpace = (dataBytes: number) => CMSG.header + ((dataBytes + 7) & ~7);

/** A msghdr pointing at one data buffer and an optional control buffer. */
export class MessageHeader {
  readonly bytes = new Uint8Array(MSGHDR.size);
  readonly #iov = new Uint8Array(IOVEC.size);
  readonly #view = new DataView(this.bytes.buffer);

  constructor(
    readonly data: Uint8Array,
    readonly control: Uint8Array | null,
  ) {
    const iov = new DataView(this.#iov.buffer);
    // A zero-length buffer has no stable address: pass NULL with length 0.
    iov.setBigUint64(IOVEC.base, data.length > 0 ? BigInt(ptr(data)) : 0n, true);
    iov.setBigUint64(IOVEC.len, BigInt(data.length), true);
    this.#view.setBigUint64(MSGHDR.iov, BigInt(ptr(this.#iov)), true);
    this.#view.setBigUint64(MSGHDR.iovlen, 1n, true);
    if (control && control.length > 0) {
      this.#view.setBigUint64(MSGHDR.control, BigInt(ptr(control)), true);
      this.#view.setBigUint64(MSGHDR.controllen, BigInt(control.length), true);
    }
  }

  /** msg_flags as recvmsg left them (MSG_TRUNC, MSG_CTRUNC). */
  get flags(): number {
    return this.#view.getInt32(MSGHDR.flags, true);
  }

  /** How many control bytes recvmsg filled in. */
  get controlLength(): number {
    return Number(this.#view.getBigUint64(MSGHDR.controllen, true));
  }
}

/** A control buffer with one SCM_RIGHTS message carrying `fds`. */
export function rightsControl(fds: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(cmsgSpace(4 * fds.length));
  const view = new DataView(bytes.buffer);
  view.setBigUint64(CMSG.len, BigInt(CMSG.header + 4 * fds.length), true);
  view.setInt32(CMSG.level, SOL_SOCKET, true);
  view.setInt32(CMSG.type, SCM_RIGHTS, true);
  fds.forEach((fd, i) => view.setInt32(CMSG.header + 4 * i, fd, true));
  return bytes;
}

/**
 * Every fd in every SCM_RIGHTS message of a received control buffer. All of
 * them are returned, even from unexpected messages, so the caller can close
 * what it does not want instead of leaking it.
 */
export function receivedRights(control: Uint8Array, controlLength: number): number[] {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  const fds: number[] = [];
  let offset = 0;
  while (offset + CMSG.header <= controlLength) {
    const len = Number(view.getBigUint64(offset + CMSG.len, true));
    if (len < CMSG.header || offset + len > controlLength) break;
    if (view.getInt32(offset + CMSG.level, true) === SOL_SOCKET && view.getInt32(offset + CMSG.type, true) === SCM_RIGHTS) {
      for (let p = offset + CMSG.header; p + 4 <= offset + len; p += 4) fds.push(view.getInt32(p, true));
    }
    offset += (len + 7) & ~7;
  }
  return fds;
}
