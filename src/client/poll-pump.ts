// Work a client does with other fds while it waits for its spawner's
// replies in poll(2) on its own thread (polled-replies.ts): portal-exec's
// terminal relay pumps bytes between the caller's terminal and the pty
// master in the same poll, so one thread serves both.
export interface PollPump {
  /** The fds to wait on now, with their poll(2) events. */
  watched(): ReadonlyArray<{ fd: number; events: number }>;
  /** After a wait: each watched fd's revents, in the same order (0: not ready). */
  ready(revents: readonly number[]): void;
}
