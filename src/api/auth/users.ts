import { StrataError } from "../../common/errors.ts";
import { decodeJsonBytes, encodeJsonBytes } from "../../common/json.ts";
import type { MetaKv } from "../../kv/types.ts";
import { hashPassword, type PasswordHash, verifyPassword } from "./password.ts";

/** Meta-store prefix of the user records (`auth/user/<name>`). */
export const USER_PREFIX = "auth/user/";
export const ROOT_USER = "root";

/** As Milvus: a letter first, then letters, digits or underscores, at most 32 characters. */
const USER_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const MIN_PASSWORD = 6;
const MAX_PASSWORD = 256;
const MAX_CAS_RETRIES = 5;

interface UserRecord extends PasswordHash {
  readonly v: 1;
  readonly name: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export function validateUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw new StrataError(
      "ParameterInvalid",
      `invalid user name ${JSON.stringify(name)}: it must start with a letter and hold only letters, digits and underscores (at most 32)`,
    );
  }
}

export function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw new StrataError(
      "ParameterInvalid",
      `invalid password: it must be ${MIN_PASSWORD} to ${MAX_PASSWORD} characters long, got ${password.length}`,
    );
  }
}

const keyOf = (name: string) => `${USER_PREFIX}${name}`;

function decodeRecord(bytes: Uint8Array, name: string): UserRecord {
  const r = decodeJsonBytes<UserRecord>(bytes, `user record ${name}`);
  if (r.v !== 1 || typeof r.hash !== "string" || typeof r.salt !== "string") {
    throw new StrataError("Corrupted", `user record ${name} has an unknown format`);
  }
  return r;
}

/** The users and their password hashes in the meta store; every process of a cluster shares them. */
export class UserStore {
  readonly #kv: MetaKv;
  readonly #now: () => number;

  constructor(kv: MetaKv, now: () => number = Date.now) {
    this.#kv = kv;
    this.#now = now;
  }

  /**
   * Creates the user unless one of that name exists; resolves false (changing nothing) if it does.
   * Atomic: of two concurrent creations, one wins.
   */
  async createIfAbsent(name: string, password: string): Promise<boolean> {
    validateUserName(name);
    validatePassword(password);
    const now = this.#now();
    const rec: UserRecord = { v: 1, name, ...(await hashPassword(password)), createdAt: now, updatedAt: now };
    const key = keyOf(name);
    const res = await this.#kv.txn({
      compare: [{ key, target: "version", op: "==", value: 0 }],
      success: [{ type: "put", key, value: encodeJsonBytes(rec) }],
    });
    return res.succeeded;
  }

  /** @throws StrataError ParameterInvalid when the name or password is invalid or the user exists. */
  async create(name: string, password: string): Promise<void> {
    if (!(await this.createIfAbsent(name, password))) {
      throw new StrataError("ParameterInvalid", `user "${name}" already exists`);
    }
  }

  /** Whether the password is the user's; undefined when there is no such user. */
  async verify(name: string, password: string): Promise<boolean | undefined> {
    if (!USER_NAME.test(name)) return undefined;
    const kv = await this.#kv.get(keyOf(name));
    if (kv === undefined) return undefined;
    return verifyPassword(password, decodeRecord(kv.value, name));
  }

  /** @throws StrataError ParameterInvalid when the user does not exist or the password is invalid. */
  async setPassword(name: string, password: string): Promise<void> {
    validateUserName(name);
    validatePassword(password);
    const key = keyOf(name);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const cur = await this.#kv.get(key);
      if (cur === undefined) throw new StrataError("ParameterInvalid", `user "${name}" does not exist`);
      const old = decodeRecord(cur.value, name);
      const rec: UserRecord = { ...old, ...(await hashPassword(password)), updatedAt: this.#now() };
      const res = await this.#kv.txn({
        compare: [{ key, target: "modRevision", op: "==", value: cur.modRevision }],
        success: [{ type: "put", key, value: encodeJsonBytes(rec) }],
      });
      if (res.succeeded) return;
    }
    throw new StrataError(
      "TxnConflict",
      `user "${name}" kept changing while its password was being set; retry`,
    );
  }

  /** @throws StrataError ParameterInvalid for root (it cannot be deleted) or an unknown user. */
  async delete(name: string): Promise<void> {
    validateUserName(name);
    if (name === ROOT_USER)
      throw new StrataError("ParameterInvalid", `user "${ROOT_USER}" cannot be deleted`);
    if (!(await this.#kv.delete(keyOf(name)))) {
      throw new StrataError("ParameterInvalid", `user "${name}" does not exist`);
    }
  }

  /** User names, sorted. */
  async list(): Promise<string[]> {
    const kvs = await this.#kv.getPrefix(USER_PREFIX);
    return kvs.map((kv) => kv.key.slice(USER_PREFIX.length));
  }
}
