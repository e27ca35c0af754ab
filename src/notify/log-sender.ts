// The sender of last resort: writes a line saying a message would have been sent. Used in
// development (no provider configured) and for customers with no reachable channel.
// A code message never has its code or text logged: logs travel further than SMS.
import { log } from "../log.ts";
import { maskPhone } from "../loyalty/phone.ts";
import type { Delivery, LogMessage, LogSenderLike } from "./types.ts";

export type LogWriter = (msg: string, fields: Record<string, unknown>) => void;

export class LogSender implements LogSenderLike {
  constructor(private readonly write: LogWriter = (msg, fields) => log.info(msg, fields)) {}

  async send(m: LogMessage): Promise<Delivery> {
    const fields: Record<string, unknown> = {
      channel: "log",
      purpose: m.purpose,
      tenantId: m.tenantId,
      customerId: m.customerId,
      phone: m.phone ? maskPhone(m.phone) : null,
      reason: m.reason,
    };
    if (m.purpose === "points") fields.text = m.text;
    this.write("message not sent: logged instead", fields);
    return { providerId: null };
  }
}
