// A Wallet refresh after a balance change (job "wallet" on the notifications queue, one per
// customer at a time — see src/card/jobs.ts): the pass is marked changed, every Apple
// device registered for it gets one APNs push, and the Google Wallet object is patched.
// The balance is read when the job runs, so however many changes it covers, the devices
// get the last one.
import type { Job } from "bullmq";
import type { Sql } from "../db/client.ts";
import { log } from "../log.ts";
import type { NotificationJob, WalletUpdateJob } from "../queue/queues.ts";
import type { ApnsClient } from "./apns.ts";
import type { GoogleWallet } from "./google.ts";

export interface WalletUpdaters {
  apns?: ApnsClient | null;
  google?: GoogleWallet | null;
  publicUrl: string;
}

export interface WalletUpdateOutcome {
  status: "sent" | "skipped";
  apple?: { devices: number; accepted: number; dropped: number };
  google?: "patched" | "not saved";
  reason?: string;
}

/** APNs answers that mean the device will never take this token again. */
const GONE = new Set([410]);
const BAD_TOKEN = new Set(["BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"]);

export function walletUpdateProcessor(sql: Sql, u: WalletUpdaters) {
  return async (_job: Job<NotificationJob>, data: WalletUpdateJob): Promise<WalletUpdateOutcome> => {
    const { tenantId, customerId } = data;
    const [pass] = await sql<{ serial: string; google_saved_at: Date | null }[]>`
      update wallet_pass set updated_at = now()
      where tenant_id = ${tenantId} and customer_id = ${customerId}
      returning serial, google_saved_at`;
    if (!pass) return { status: "skipped", reason: "no Wallet pass" };
    const out: WalletUpdateOutcome = { status: "sent" };
    if (u.apns) {
      const devices = await sql<{ device_library_id: string; push_token: string }[]>`
        select device_library_id, push_token from apple_registration where serial = ${pass.serial}`;
      let accepted = 0;
      let dropped = 0;
      const failures: string[] = [];
      for (const d of devices) {
        const r = await u.apns.notify(d.push_token);
        if (r.status === 200) accepted++;
        else if (GONE.has(r.status) || (r.status === 400 && BAD_TOKEN.has(r.reason ?? ""))) {
          await sql`delete from apple_registration where device_library_id = ${d.device_library_id} and serial = ${pass.serial}`;
          dropped++;
        } else failures.push(`${r.status} ${r.reason ?? ""}`.trim());
      }
      if (failures.length > 0 && accepted === 0) {
        // Nothing went out: retry later (the job's backoff); devices that took it are not
        // harmed by a second push — they fetch the same pass.
        throw new Error(`APNs refused the update: ${failures.join("; ")}`);
      }
      if (failures.length > 0) log.warn("APNs refused some devices", { tenantId, customerId, failures });
      out.apple = { devices: devices.length, accepted, dropped };
    }
    if (u.google) {
      if (pass.google_saved_at) {
        await u.google.patchBalance(sql, tenantId, customerId);
        out.google = "patched";
      } else out.google = "not saved";
    }
    return out;
  };
}
