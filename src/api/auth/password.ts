import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/** A stored password: scrypt of the password with a random salt, and the parameters used. */
export interface PasswordHash {
  readonly algo: "scrypt";
  /** base64 */
  readonly salt: string;
  /** base64 */
  readonly hash: string;
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** scrypt's interactive-login parameters (~16 MiB, tens of ms per hash): slow for guessing, fine per login. */
const DEFAULT_PARAMS = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, params: ScryptOptions & { N: number; r: number; p: number }) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(
      password.normalize("NFC"),
      salt,
      KEY_BYTES,
      { ...params, maxmem: 256 * params.N * params.r },
      (e, key) => (e === null ? resolve(key) : reject(e)),
    );
  });
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, DEFAULT_PARAMS);
  return { algo: "scrypt", salt: salt.toString("base64"), hash: key.toString("base64"), ...DEFAULT_PARAMS };
}

/** Constant-time comparison of the derived key; a record with unknown parameters never matches. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.algo !== "scrypt") return false;
  const expected = Buffer.from(stored.hash, "base64");
  if (expected.length !== KEY_BYTES) return false;
  const key = await derive(password, Buffer.from(stored.salt, "base64"), {
    N: stored.N,
    r: stored.r,
    p: stored.p,
  });
  return timingSafeEqual(key, expected);
}

/** A random password for a bootstrap user: 18 bytes, base64url (24 characters). */
export function randomPassword(): string {
  return randomBytes(18).toString("base64url");
}
