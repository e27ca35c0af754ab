import type { Config } from "./config.ts";
import type { Sql } from "./db/client.ts";
import type { TenantDirectory } from "./loyalty/tenants.ts";
import type { Queues } from "./queue/queues.ts";
import type { ResolveHost } from "./web/push-endpoint.ts";
import type { WalletConfig } from "./wallet/config.ts";

/** What the HTTP app needs from the process that serves it. */
export interface AppDeps {
  config: Config;
  sql: Sql;
  tenants: TenantDirectory;
  /** Producers; absent in tests of the synchronous calls (stored documents wait for the sweeper). */
  queues?: Queues;
  /** Extra readiness checks (e.g. Redis once queues exist): name → ok? */
  readiness?: Record<string, () => Promise<boolean>>;
  /** DNS, for checking push-service addresses: the system resolver unless a test gives a stand-in. */
  resolveHost?: ResolveHost;
  /** Apple/Google Wallet; absent → from the environment (src/wallet/config.ts). */
  wallet?: WalletConfig;
}
