// APNs for Wallet passes: HTTP/2, token-based (an ES256 JWT from the APNs auth key, reused
// for up to 50 minutes as Apple asks). A pass update is an empty JSON body to the device's
// push token with the pass type id as topic; the device then asks our web service which
// passes changed and downloads them.
import { connect, type ClientHttp2Session, constants } from "node:http2";
import { importPKCS8, SignJWT } from "jose";

export interface ApnsOutcome {
  status: number;
  /** Apple's reason on failure (e.g. BadDeviceToken, Unregistered). */
  reason?: string;
}

export class ApnsClient {
  private session: ClientHttp2Session | null = null;
  private jwt: { token: string; at: number } | null = null;

  constructor(
    private readonly cfg: { teamId: string; keyId: string; key: string; url: string; ca?: string },
    private readonly topic: string,
  ) {}

  private async bearer(): Promise<string> {
    if (this.jwt && Date.now() - this.jwt.at < 50 * 60_000) return this.jwt.token;
    const key = await importPKCS8(this.cfg.key, "ES256");
    const token = await new SignJWT({ iss: this.cfg.teamId })
      .setProtectedHeader({ alg: "ES256", kid: this.cfg.keyId })
      .setIssuedAt()
      .sign(key);
    this.jwt = { token, at: Date.now() };
    return token;
  }

  private connection(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = connect(this.cfg.url, this.cfg.ca ? { ca: this.cfg.ca } : {});
    session.on("error", () => {
      // A broken connection is replaced on the next send; that send reports the failure.
      if (this.session === session) this.session = null;
    });
    session.on("close", () => {
      if (this.session === session) this.session = null;
    });
    this.session = session;
    return session;
  }

  /** Tells one device that the pass changed. Network failures throw (the job retries). */
  async notify(pushToken: string): Promise<ApnsOutcome> {
    const bearer = await this.bearer();
    const session = this.connection();
    return new Promise<ApnsOutcome>((resolve, reject) => {
      const req = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: `/3/device/${encodeURIComponent(pushToken)}`,
        authorization: `bearer ${bearer}`,
        "apns-topic": this.topic,
        "apns-push-type": "background",
        "apns-priority": "5",
        "content-type": "application/json",
      });
      req.setTimeout(10_000, () => req.close(constants.NGHTTP2_CANCEL));
      let status = 0;
      let body = "";
      req.on("response", (h) => {
        status = Number(h[constants.HTTP2_HEADER_STATUS]);
      });
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      req.on("end", () => {
        let reason: string | undefined;
        try {
          reason = body ? JSON.parse(body).reason : undefined;
        } catch {
          reason = body.slice(0, 200);
        }
        resolve(status ? { status, ...(reason ? { reason } : {}) } : { status: 0, reason: "no response" });
      });
      req.on("error", reject);
      req.end("{}");
    });
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}
