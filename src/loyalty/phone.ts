// Phones arrive in any notation ("+7 555 123 4567", "89031234567", "9031234567").
// We keep digits only, with the Russian trunk prefix folded so all three are one number.

const PHONE_CHARS = /^[+\d\s()\-.]+$/;

export function normalizePhone(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const trimmed = raw.trim();
  if (!PHONE_CHARS.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, "");
  if (digits.length === 11 && (digits[0] === "8" || digits[0] === "7")) return "7" + digits.slice(1);
  if (digits.length === 10 && !trimmed.startsWith("+")) return "7" + digits;
  if (digits.length >= 5 && digits.length <= 15 && trimmed.startsWith("+")) return digits;
  return null;
}

/**
 * The stored-form prefix of a partly typed phone, for search-as-you-type:
 * "8903…" and "903…" both mean "7903…". Null when the text is not phone-like or too short.
 */
export function phonePrefix(raw: string): string | null {
  const trimmed = raw.trim();
  if (!PHONE_CHARS.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, "");
  if (digits.length < 4) return null;
  if (trimmed.startsWith("+")) return digits;
  if (digits[0] === "8") return "7" + digits.slice(1);
  if (digits[0] === "9") return "7" + digits;
  return digits;
}

/** E.164 as the POS stores it: "+79031234567". */
export function formatPhone(stored: string): string {
  return "+" + stored;
}

/** For people: Russian numbers as "+7 903 123-45-67", others as "+<digits>". */
export function prettyPhone(stored: string): string {
  if (stored.length === 11 && stored[0] === "7") {
    return `+7 ${stored.slice(1, 4)} ${stored.slice(4, 7)}-${stored.slice(7, 9)}-${stored.slice(9)}`;
  }
  return "+" + stored;
}

/** For messages to a cashier: "+7 903 ***-**-67" (others: "+375*******67"). */
export function maskPhone(stored: string): string {
  if (stored.length === 11 && stored[0] === "7") return `+7 ${stored.slice(1, 4)} ***-**-${stored.slice(9)}`;
  return `+${stored.slice(0, 3)}${"*".repeat(Math.max(0, stored.length - 5))}${stored.slice(-2)}`;
}
