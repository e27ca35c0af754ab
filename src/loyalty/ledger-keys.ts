// Every points-ledger entry's idempotency key, spelled once. The key is what makes a
// posting happen once (posting a key again changes nothing), so a key spelled one way
// where an entry is posted and another way where it is looked for would post twice or
// find nothing. Statements that compute a key from a column use ledgerKeySql, which
// builds the same text from these same functions.
import type { PendingQuery, Row } from "postgres";
import type { Queryable } from "../db/client.ts";

export const ledgerKey = {
  /** Points a sale spent (posted at intake). */
  saleSpend: (saleId: string) => `sale:${saleId}:spend`,
  /** Points a sale earned (posted at settlement). */
  saleAccrual: (saleId: string) => `sale:${saleId}:accrual`,
  /** A held spend an operator approved. */
  saleSpendApproved: (saleId: string) => `sale:${saleId}:spend-approved`,
  /** A held accrual an operator approved. */
  saleAccrualApproved: (saleId: string) => `sale:${saleId}:accrual-approved`,
  /** Spent points a return gives back. */
  returnRefund: (returnId: string) => `return:${returnId}:refund`,
  /** Earned points a return takes back. */
  returnClawback: (returnId: string) => `return:${returnId}:clawback`,
  welcome: (customerId: string) => `welcome:${customerId}`,
  /** The gift for the birthday of `year` (a year's gift may be given in December of the year before). */
  birthday: (customerId: string, year: number | string) => `birthday:${customerId}:${year}`,
  /** The invited friend's points, decided at the settlement of their first sale. */
  referred: (referredId: string) => `referral:${referredId}:referred`,
  /** The inviter's points for the same friend. */
  referrer: (referredId: string) => `referral:${referredId}:referrer`,
  /** What was left of one points lot when it burned. */
  lotExpiry: (lotId: number) => `expiry:lot:${lotId}`,
  /** A manual adjustment: `given` is the caller's Idempotency-Key, or a fresh uuid. */
  adjustment: (given: string) => `adjustment:${given}`,
};

type Fragment = PendingQuery<Row[]>;
const SLOT = "\u0000";

/**
 * `key` computed by Postgres, one SQL expression per argument (columns such as
 * sql`r.sale_id`, or parameters): the key's fixed text comes from the same function that
 * spells it in TypeScript, each argument is cast to text as concatenation would.
 */
export function ledgerKeySql<A extends unknown[]>(sql: Queryable, key: (...args: A) => string, ...args: { [I in keyof A]: Fragment }): Fragment {
  const text = key(...(args.map(() => SLOT) as A)).split(SLOT);
  let out = sql`${text[0]!}::text`;
  args.forEach((arg, i) => {
    out = sql`${out} || (${arg})::text || ${text[i + 1]!}::text`;
  });
  return out;
}
