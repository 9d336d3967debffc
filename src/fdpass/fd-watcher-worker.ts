// The poll thread behind FdWatcher (see docs/event-loop.md for why it exists).
// It blocks in poll(2) over the watched fds plus an eventfd the main thread
// writes to after queueing a command, so the set can change at any time.
// Watches are one-shot: a ready fd is dropped from the set and reported; the
// main thread re-arms it once it has drained the fd. Commands arrive through
// a MessagePort drained synchronously (receiveMessageOnPort), so this thread
// never needs its own event loop.
import { ptr } from "bun:ffi";
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { libc } from "../libc/libc.ts";
import { errno, EINTR, SystemError } from "../libc/errno.ts";
import { POLLIN } from "../libc/constants.ts";
import { POLLFD_SIZE } from "../libc/structs.ts";

export type WatcherCommand =
  | { op: "watch"; fd: number; events: number; id: number }
  | { op: "cancel"; fd: number; id: number }
  | { op: "stop" };

export interface WatcherEvent {
  id: number;
  fd: number;
  revents: number;
}

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ port: MessagePort; wakeFd: number }>) => {
  const { port, wakeFd } = event.data;
  // Hand control back to the event loop only to let this handler finish; the
  // loop below never returns until "stop".
  run(port, wakeFd);
  port.close();
  self.postMessage("stopped");
};

function run(port: MessagePort, wakeFd: number): void {
  const watched = new Map<number, { events: number; id: number }>();
  const counter = new BigUint64Array(1);
  let pollfds = new Uint8Array(POLLFD_SIZE * 64);
  for (;;) {
    const needed = POLLFD_SIZE * (watched.size + 1);
    if (pollfds.length < needed) pollfds = new Uint8Array(needed * 2);
    const view = new DataView(pollfds.buffer);
    const order: number[] = [];
    view.setInt32(0, wakeFd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt16(6, 0, true);
    let slot = 1;
    for (const [fd, watch] of watched) {
      view.setInt32(slot * POLLFD_SIZE, fd, true);
      view.setInt16(slot * POLLFD_SIZE + 4, watch.events, true);
      view.setInt16(slot * POLLFD_SIZE + 6, 0, true);
      order.push(fd);
      slot++;
    }
    const n = libc.poll(ptr(pollfds), slot, -1);
    if (n < 0) {
      const code = errno();
      if (code === EINTR) continue;
      throw new SystemError("poll", code);
    }
    const ready: WatcherEvent[] = [];
    for (let i = 0; i < order.length; i++) {
      const revents = view.getUint16((i + 1) * POLLFD_SIZE + 6, true);
      if (revents === 0) continue;
      const fd = order[i]!;
      const watch = watched.get(fd)!;
      watched.delete(fd);
      ready.push({ id: watch.id, fd, revents });
    }
    if (ready.length > 0) self.postMessage(ready);
    if (view.getUint16(6, true) !== 0) {
      libc.read(wakeFd, ptr(counter), 8);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const command = m.message as WatcherCommand;
        if (command.op === "stop") return;
        if (command.op === "watch") watched.set(command.fd, { events: command.events, id: command.id });
        else if (watched.get(command.fd)?.id === command.id) watched.delete(command.fd);
      }
    }
  }
}
