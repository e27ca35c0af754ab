// Secrets kept at rest (the МойСклад JSON API token): AES-256-GCM under SECRETS_KEY, so a
// database dump alone does not give access to merchants' МойСклад accounts.
// Layout: 12-byte nonce ‖ ciphertext ‖ 16-byte tag. `purpose` is bound as associated data,
// so a ciphertext cannot be moved to another column or tenant and still decrypt.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

export function encryptSecret(key: Buffer, plaintext: string, purpose: string): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(purpose, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Throws when the key or purpose differ or the bytes were changed. */
export function decryptSecret(key: Buffer, sealed: Buffer, purpose: string): string {
  if (sealed.length < 12 + 16) throw new Error("sealed secret too short");
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
  decipher.setAAD(Buffer.from(purpose, "utf8"));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString("utf8");
}

/** A separate key per use, so the encryption key never signs anything. */
export function deriveKey(master: Buffer, use: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", master, Buffer.alloc(0), use, 32));
}
