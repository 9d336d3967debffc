// Where client and spawner meet by default.
import { expect, test } from "bun:test";
import { DEFAULT_SOCKET, defaultSocketPath } from "../../../src/protocol/socket-name.ts";

test("$PORTAL_NAME, else ./portal.sock (an empty PORTAL_NAME counts as unset)", () => {
  expect(DEFAULT_SOCKET).toBe("./portal.sock");
  expect(defaultSocketPath({ PORTAL_NAME: "/run/portal/app.sock" })).toBe("/run/portal/app.sock");
  expect(defaultSocketPath({})).toBe("./portal.sock");
  expect(defaultSocketPath({ PORTAL_NAME: "" })).toBe("./portal.sock");
});
