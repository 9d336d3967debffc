// One error type for everything the overlay commands refuse or fail at; its
// message says what to do about it. The CLI exits 1 with it (2 for usage).
export class OverlayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OverlayError";
  }
}
