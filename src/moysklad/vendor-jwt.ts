// The tokens of МойСклад's Vendor API, both directions: HS256 keyed with the app's
// secretKey. jose does the JOSE work (strict algorithm list, exp/iat checks, constant-time
// signature comparison) — hand-written JWT code is where `alg: none` and similar mistakes live.
import { randomUUID } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Sql } from "../db/client.ts";

/** Seconds of clock difference we accept between МойСклад and us. */
const CLOCK_SKEW_S = 30;

export type IncomingTokenProblem = "missing" | "invalid" | "expired" | "replayed";

export class IncomingTokenError extends Error {
  constructor(readonly problem: IncomingTokenProblem) {
    super(`vendor token ${problem}`);
  }
}

const keyOf = (secret: string) => new TextEncoder().encode(secret);

/**
 * Checks a token МойСклад sent us: signature, HS256 only, `exp` (required), a one-time
 * `jti` (remembered until the token expires). Throws IncomingTokenError.
 */
export async function verifyIncoming(sql: Sql, authorization: string | undefined, secret: string): Promise<void> {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  if (!m) throw new IncomingTokenError("missing");
  let payload;
  try {
    ({ payload } = await jwtVerify(m[1]!, keyOf(secret), { algorithms: ["HS256"], requiredClaims: ["exp", "jti"], clockTolerance: CLOCK_SKEW_S }));
  } catch (e) {
    throw new IncomingTokenError(e instanceof joseErrors.JWTExpired ? "expired" : "invalid");
  }
  if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 200) throw new IncomingTokenError("invalid");
  const expiresAt = new Date((payload.exp! + CLOCK_SKEW_S) * 1000);
  const fresh = await sql`
    insert into moysklad_seen_jti (jti, expires_at) values (${payload.jti}, ${expiresAt})
    on conflict (jti) do nothing returning 1`;
  if (fresh.length === 0) throw new IncomingTokenError("replayed");
  // Forgetting expired ids now and then keeps the table small; their tokens are refused by exp.
  if (Math.random() < 0.05) await sql`delete from moysklad_seen_jti where expires_at < now()`;
}

/** A token for one request of ours to МойСклад: `sub` = appUid, a fresh `jti`, short life. */
export function signOutgoing(appUid: string, secret: string, lifetimeS = 60): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(appUid)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeS}s`)
    .setJti(randomUUID())
    .sign(keyOf(secret));
}
