// The poll thread behind FdWatcher (see docs/event-loop.md for why it exists).
// It blocks in poll(2) over the watched fds plus an eventfd the main thread
// writes to after queueing a command, so the set can change at any time.
// Watches are one-shot: a ready fd is dropped from the set and reported; the
// main thread re-arms it once it has drained the fd. Commands arrive through
// a MessagePort drained synchronously (receiveMessageOnPort). After each
// wake-up the thread still yields to its event loop for a moment: the
// runtime frees the memory of collected garbage from there, and a thread
// that never returned to it grew by megabytes per ten thousand waits.
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { PollList } from "../libc/poll.ts";
import { readInto } from "../libc/file.ts";
import { POLLIN } from "../libc/constants.ts";

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

self.onmessage = async (event: MessageEvent<{ port: MessagePort; wakeFd: number }>) => {
  const { port, wakeFd } = event.data;
  self.postMessage("ready");
  await run(port, wakeFd);
  port.close();
  self.postMessage("stopped");
};

async function run(port: MessagePort, wakeFd: number): Promise<void> {
  const watched = new Map<number, { events: number; id: number }>();
  const counter = new Uint8Array(8);
  const list = new PollList(64);
  for (;;) {
    list.clear();
    list.add(wakeFd, POLLIN);
    for (const [fd, watch] of watched) list.add(fd, watch.events);
    if (list.wait(-1) === "interrupted") continue;
    const ready: WatcherEvent[] = [];
    for (let i = 1; i < list.length; i++) {
      const revents = list.revents(i);
      if (revents === 0) continue;
      const fd = list.fd(i);
      const watch = watched.get(fd)!;
      watched.delete(fd);
      ready.push({ id: watch.id, fd, revents });
    }
    if (ready.length > 0) self.postMessage(ready);
    if (list.revents(0) !== 0) {
      readInto(wakeFd, counter);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const command = m.message as WatcherCommand;
        if (command.op === "stop") return;
        if (command.op === "watch") watched.set(command.fd, { events: command.events, id: command.id });
        else if (watched.get(command.fd)?.id === command.id) watched.delete(command.fd);
      }
    }
    // What was ready is reported: a moment in the event loop (nothing else runs there) lets the runtime free garbage.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
