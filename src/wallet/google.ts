// Google Wallet: the "save" link carries the merchant's loyalty class and the customer's
// loyalty object in a JWT signed with the service account's key (RS256, jose); on a balance
// change the object is patched through the Wallet REST API with an OAuth token obtained
// by the service account's JWT-bearer grant.
import { importPKCS8, SignJWT } from "jose";
import { cardView, type CardView } from "../card/card.ts";
import type { Sql } from "../db/client.ts";
import { ensureWalletPass } from "./apple.ts";
import type { GoogleWalletConfig } from "./config.ts";

export const SAVE_URL = "https://pay.google.com/gp/v/save/";
const SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer";

export class GoogleWallet {
  private token: { value: string; until: number } | null = null;
  private key: Promise<CryptoKey> | null = null;

  constructor(
    private readonly cfg: GoogleWalletConfig,
    private readonly publicUrl: string,
  ) {}

  private signingKey(): Promise<CryptoKey> {
    this.key ??= importPKCS8(this.cfg.privateKey, "RS256") as Promise<CryptoKey>;
    return this.key;
  }

  classId(slug: string): string {
    return `${this.cfg.issuerId}.loyalty-${slug}`;
  }

  objectId(customerId: string): string {
    return `${this.cfg.issuerId}.${customerId}`;
  }

  loyaltyClass(view: CardView): Record<string, unknown> {
    return {
      id: this.classId(view.slug),
      issuerName: view.shop,
      programName: `Карта покупателя ${view.shop}`,
      programLogo: { sourceUri: { uri: `${this.publicUrl}/wallet/logo.png` } },
      reviewStatus: "UNDER_REVIEW",
      hexBackgroundColor: "#1f6feb",
    };
  }

  loyaltyObject(view: CardView): Record<string, unknown> {
    return {
      id: this.objectId(view.customerId),
      classId: this.classId(view.slug),
      state: "ACTIVE",
      accountId: view.cardNumber ?? view.customerId.slice(0, 8),
      accountName: view.firstName ?? view.shop,
      loyaltyPoints: { label: "Баллы", balance: { int: view.balance } },
      barcode: { type: "QR_CODE", value: view.qrPayload },
    };
  }

  /** The "save to Google Wallet" URL for the card behind `token`; null for an unknown token. */
  async saveUrl(sql: Sql, token: string): Promise<string | null> {
    const view = await cardView(sql, this.publicUrl, token);
    if (!view) return null;
    await ensureWalletPass(sql, view.tenantId, view.customerId);
    await sql`update wallet_pass set google_saved_at = coalesce(google_saved_at, now())
              where tenant_id = ${view.tenantId} and customer_id = ${view.customerId}`;
    const jwt = await new SignJWT({
      typ: "savetowallet",
      origins: [this.publicUrl],
      payload: { loyaltyClasses: [this.loyaltyClass(view)], loyaltyObjects: [this.loyaltyObject(view)] },
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(this.cfg.clientEmail)
      .setAudience("google")
      .setIssuedAt()
      .sign(await this.signingKey());
    return SAVE_URL + jwt;
  }

  /** An OAuth access token for the Wallet API, kept until a minute before it expires. */
  async accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(this.cfg.clientEmail)
      .setAudience(this.cfg.oauthUrl)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(await this.signingKey());
    const r = await fetch(this.cfg.oauthUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    if (!r.ok) throw new Error(`Google OAuth ${r.status}: ${(await r.text()).slice(0, 200)}`);
    const body = (await r.json()) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new Error("Google OAuth: no access_token in the answer");
    this.token = { value: body.access_token, until: Date.now() + Math.max(0, (body.expires_in ?? 3600) - 60) * 1000 };
    return body.access_token;
  }

  /** Sends the current balance (and QR) to the customer's object. A missing object is not an error. */
  async patchBalance(sql: Sql, tenantId: string, customerId: string): Promise<"patched" | "missing"> {
    const [c] = await sql<{ qr_token: string | null }[]>`select qr_token from customer where tenant_id = ${tenantId} and id = ${customerId}`;
    const view = c?.qr_token ? await cardView(sql, this.publicUrl, c.qr_token) : null;
    if (!view) return "missing";
    const obj = this.loyaltyObject(view);
    const r = await fetch(`${this.cfg.apiUrl}/walletobjects/v1/loyaltyObject/${encodeURIComponent(this.objectId(customerId))}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${await this.accessToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ loyaltyPoints: obj.loyaltyPoints, barcode: obj.barcode }),
      signal: AbortSignal.timeout(10_000),
    });
    if (r.status === 404) return "missing"; // the customer opened the link but never saved
    if (r.status === 401) this.token = null;
    if (!r.ok) throw new Error(`Google Wallet API ${r.status}: ${(await r.text()).slice(0, 200)}`);
    return "patched";
  }
}
