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

/**
 * A msghdr with one iovec, and the data and control buffers they point at,
 * all allocated once and kept for the life of the process: sendmsg and
 * recvmsg get pointers into memory that the garbage collector can never free
 * or reuse while the kernel reads or writes it. One instance per direction;
 * calls are synchronous, so never two at once.
 */
export class MessageBuffers {
  readonly header = new Uint8Array(MSGHDR.size);
  readonly #headerView = new DataView(this.header.buffer);
  readonly #iov = new Uint8Array(IOVEC.size);
  readonly #iovView = new DataView(this.#iov.buffer);
  #data = new Uint8Array(0);
  #control = new Uint8Array(0);

  constructor() {
    this.#headerView.setBigUint64(MSGHDR.iov, BigInt(ptr(this.#iov)), true);
    this.#headerView.setBigUint64(MSGHDR.iovlen, 1n, true);
  }

  /** Room for `dataBytes` of data and `controlBytes` of control; returns the two buffers (views) to fill or read. */
  prepare(dataBytes: number, controlBytes: number): { data: Uint8Array; control: Uint8Array } {
    if (this.#data.length < Math.max(dataBytes, 1)) this.#data = new Uint8Array(Math.max(dataBytes, 4096));
    if (this.#control.length < controlBytes) this.#control = new Uint8Array(Math.max(controlBytes, 256));
    // Taking .buffer settles where a typed array's bytes live before ptr() is taken.
    void this.#data.buffer;
    void this.#control.buffer;
    this.#iovView.setBigUint64(IOVEC.base, BigInt(ptr(this.#data)), true);
    this.#iovView.setBigUint64(IOVEC.len, BigInt(dataBytes), true);
    this.#headerView.setBigUint64(MSGHDR.control, controlBytes > 0 ? BigInt(ptr(this.#control)) : 0n, true);
    this.#headerView.setBigUint64(MSGHDR.controllen, BigInt(controlBytes), true);
    this.#headerView.setInt32(MSGHDR.flags, 0, true);
    return { data: this.#data.subarray(0, dataBytes), control: this.#control.subarray(0, controlBytes) };
  }

  /** msg_flags as recvmsg left them (MSG_TRUNC, MSG_CTRUNC). */
  get flags(): number {
    return this.#headerView.getInt32(MSGHDR.flags, true);
  }

  /** How many control bytes recvmsg filled in. */
  get controlLength(): number {
    return Number(this.#headerView.getBigUint64(MSGHDR.controllen, true));
  }
}

/** Writes one SCM_RIGHTS message carrying `fds` into `control` (cmsgSpace(4 * fds.length) bytes). */
export function writeRights(control: Uint8Array, fds: readonly number[]): void {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  view.setBigUint64(CMSG.len, BigInt(CMSG.header + 4 * fds.length), true);
  view.setInt32(CMSG.level, SOL_SOCKET, true);
  view.setInt32(CMSG.type, SCM_RIGHTS, true);
  fds.forEach((fd, i) => view.setInt32(CMSG.header + 4 * i, fd, true));
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
