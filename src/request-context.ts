// Every HTTP request gets an id (the caller's X-Request-Id when it is a sane token, else a
// new one), answered in X-Request-Id and written on every log line the request causes.
import { randomBytes } from "node:crypto";
import { Elysia } from "elysia";
import { enterLogContext } from "./log.ts";

const GIVEN_ID = /^[A-Za-z0-9._:-]{8,64}$/;

// A new id is this process's random half and a counter: 16 hex digits, unique across
// instances and restarts, without drawing random bytes on every request.
const PROCESS_PART = randomBytes(4).toString("hex");
let counter = 0;

function newRequestId(): string {
  counter = (counter + 1) >>> 0;
  return PROCESS_PART + counter.toString(16).padStart(8, "0");
}

export const requestContext = new Elysia({ name: "request-context" }).onRequest(({ request, set }) => {
  const given = request.headers.get("x-request-id");
  const requestId = given && GIVEN_ID.test(given) ? given : newRequestId();
  enterLogContext({ requestId });
  set.headers["x-request-id"] = requestId;
});
