// Which push-service addresses a customer's browser may give us. We later POST messages
// to that address from our own network, so an address must not lead there: https on
// port 443 only, a host name (no IP literals), and every address the name resolves to
// public — no loopback, private, link-local (cloud metadata at 169.254.169.254),
// carrier-grade NAT, multicast or reserved ranges. Names such as
// `169.254.169.254.nip.io` or `localhost.` are refused by what they resolve to.
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { errors } from "../errors.ts";
import { within } from "../within.ts";

/** Host name → its addresses. The system resolver by default; a test gives its own stand-in. */
export type ResolveHost = (host: string) => Promise<string[]>;

export const systemResolver: ResolveHost = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

const notPublic = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  notPublic.addSubnet(net, bits, "ipv4");
}
for (const [net, bits] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96], // NAT64: may lead to any IPv4 address, private ones included
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const) {
  notPublic.addSubnet(net, bits, "ipv6");
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // BlockList matches IPv4-mapped IPv6 (::ffff:10.0.0.1) against the IPv4 ranges.
  return !notPublic.check(address, family === 4 ? "ipv4" : "ipv6");
}

const refuse = (why: string) => errors.validation(`«endpoint»: ${why}`, "endpoint");

/** Throws a 400 naming what is wrong with the address; resolves when it may be used. */
export async function checkPushEndpoint(endpoint: string, resolve: ResolveHost, timeoutMs = 2000): Promise<void> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw refuse("ожидается адрес push-сервиса браузера.");
  }
  if (url.protocol !== "https:") throw refuse("ожидается https-адрес push-сервиса браузера.");
  if (url.port !== "") throw refuse("push-сервис должен принимать на порту 443.");
  if (url.username || url.password) throw refuse("адрес не должен содержать имя пользователя или пароль.");
  const host = url.hostname.replace(/\.$/, "");
  if (host.startsWith("[") || isIP(host) !== 0) throw refuse("ожидается имя push-сервиса, а не IP-адрес.");
  if (!host.includes(".") || host === "localhost" || host.endsWith(".localhost")) throw refuse("это не адрес публичного push-сервиса.");
  let addresses: string[];
  try {
    addresses = await within(timeoutMs, resolve(host));
  } catch {
    throw refuse(`имя ${host} не находится в DNS.`);
  }
  if (addresses.length === 0) throw refuse(`имя ${host} не находится в DNS.`);
  if (!addresses.every(isPublicAddress)) throw refuse(`имя ${host} ведёт во внутреннюю сеть.`);
}
