import { timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { errors } from "../errors.ts";

export function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Operators and tests: `Authorization: Bearer <ADMIN_TOKEN>`. */
export const adminAuth = (adminToken: string) =>
  new Elysia().onTransform({ as: "scoped" }, ({ headers }) => {
    const auth = headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
    if (!adminToken || !token || !tokenMatches(token, adminToken)) throw errors.adminUnauthorized();
  });

export const adminSecurity = [{ adminBearer: [] as string[] }];
