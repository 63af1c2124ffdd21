import { createHash } from "node:crypto";
import { StrataError } from "../../common/errors.ts";
import type { Logger } from "../../common/log.ts";
import type { MetaKv } from "../../kv/types.ts";
import type { Authenticator } from "../hooks.ts";
import { type Credentials, parseGrpcAuthorization, parseHttpAuthorization } from "./credentials.ts";
import { hashPassword, type PasswordHash, randomPassword, verifyPassword } from "./password.ts";
import { ROOT_USER, UserStore, validatePassword } from "./users.ts";

export interface AuthServiceOptions {
  readonly kv: MetaKv;
  /** Off: every request passes (the user store still works, for the user RPCs). */
  readonly enabled: boolean;
  /**
   * The password `root` gets when it is created (the first start with auth on). Empty or absent:
   * a random one, logged once at warn level and returned in `initialRootPassword`.
   */
  readonly rootPassword?: string;
  readonly logger: Logger;
  /** How long a successful verification is remembered (default 10 s; 0 disables the cache). */
  readonly cacheTtlMs?: number;
  /** Wall clock in ms (tests). */
  readonly now?: () => number;
}

/** Entries beyond this and the cache starts over: it only saves scrypt time, never decides. */
const MAX_CACHE_ENTRIES = 10_000;
/** What an unauthenticated caller is when auth is off. */
const ANONYMOUS_AS = ROOT_USER;

interface CacheEntry {
  readonly user: string;
  readonly expires: number;
}

/**
 * Authentication for the front doors, on users kept in the meta store with scrypt password
 * hashes. Successful checks are cached for a few seconds under a hash of the credentials (scrypt
 * costs tens of ms on purpose); a password change or deletion clears the user's entries at once
 * in this process, and within the cache TTL in the others of a cluster.
 */
export class AuthService implements Authenticator {
  readonly enabled: boolean;
  /** The generated root password when this start created root without a configured one. */
  readonly initialRootPassword: string | undefined;
  readonly users: UserStore;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  /** Verifications in progress, so a burst of requests with new credentials costs one scrypt. */
  readonly #inflight = new Map<string, Promise<boolean>>();
  /** Compared against for unknown users, so their answer takes as long as a wrong password. */
  #decoy: Promise<PasswordHash> | undefined;
  /** Bumped by every password change or deletion: a verification begun before must not be cached. */
  #epoch = 0;

  private constructor(opts: AuthServiceOptions, initialRootPassword: string | undefined) {
    this.enabled = opts.enabled;
    this.initialRootPassword = initialRootPassword;
    this.#now = opts.now ?? Date.now;
    this.users = new UserStore(opts.kv, this.#now);
    this.#log = opts.logger;
    this.#ttlMs = opts.cacheTtlMs ?? 10_000;
  }

  /**
   * With auth on, makes sure `root` exists, creating it with the configured password (or a random
   * one) only if it does not: a later start never resets it.
   * @throws StrataError ParameterInvalid when the configured root password is not 6–256 characters.
   */
  static async open(opts: AuthServiceOptions): Promise<AuthService> {
    let generated: string | undefined;
    if (opts.enabled) {
      const configured = opts.rootPassword ?? "";
      if (configured !== "") validatePassword(configured);
      const password = configured === "" ? randomPassword() : configured;
      const store = new UserStore(opts.kv, opts.now ?? Date.now);
      if (await store.createIfAbsent(ROOT_USER, password)) {
        if (configured === "") {
          generated = password;
          opts.logger.warn(
            { user: ROOT_USER },
            `authentication is on and user "${ROOT_USER}" was created with the generated password "${password}". ` +
              "It is shown only this once: keep it, or set auth.rootPassword before the first start next time.",
          );
        } else {
          opts.logger.info(
            { user: ROOT_USER },
            `authentication is on; created user "${ROOT_USER}" with auth.rootPassword`,
          );
        }
      }
    }
    return new AuthService(opts, generated);
  }

  authenticateGrpc(authorization: string | undefined): Promise<string> {
    return this.#authenticate(authorization, parseGrpcAuthorization);
  }

  authenticateHttp(authorization: string | undefined): Promise<string> {
    return this.#authenticate(authorization, parseHttpAuthorization);
  }

  /** Whether `password` is `user`'s (false for an unknown user). Never cached. */
  async verify(user: string, password: string): Promise<boolean> {
    const ok = await this.users.verify(user, password);
    if (ok !== undefined) return ok;
    this.#decoy ??= hashPassword("strata-decoy-password");
    await verifyPassword(password, await this.#decoy);
    return false;
  }

  /** @throws StrataError ParameterInvalid (bad name or password, user exists). */
  async createUser(name: string, password: string): Promise<void> {
    await this.users.create(name, password);
    this.#log.info({ user: name }, "user created");
  }

  /**
   * Sets a new password. With `oldPassword`, it must be the current one (a user changing their
   * own password); without, the caller has already checked that this is allowed.
   * @throws StrataError ParameterInvalid (unknown user, bad password), AuthenticationFailed (old password wrong).
   */
  async updatePassword(
    name: string,
    newPassword: string,
    opts: { readonly oldPassword?: string } = {},
  ): Promise<void> {
    if (opts.oldPassword !== undefined && !(await this.verify(name, opts.oldPassword))) {
      throw new StrataError("AuthenticationFailed", `the old password of user "${name}" is wrong`);
    }
    await this.users.setPassword(name, newPassword);
    this.#forget(name);
    this.#log.info({ user: name }, "user password changed");
  }

  /** @throws StrataError ParameterInvalid (root, unknown user). */
  async deleteUser(name: string): Promise<void> {
    await this.users.delete(name);
    this.#forget(name);
    this.#log.info({ user: name }, "user deleted");
  }

  listUsers(): Promise<string[]> {
    return this.users.list();
  }

  async #authenticate(
    authorization: string | undefined,
    parse: (v: string | undefined) => Credentials | undefined,
  ): Promise<string> {
    if (!this.enabled) return ANONYMOUS_AS;
    const creds = parse(authorization);
    if (creds === undefined) {
      throw new StrataError(
        "AuthenticationFailed",
        'authentication is required: connect with a user and password (or the token "user:password")',
      );
    }
    const key = createHash("sha256").update(creds.user).update("\0").update(creds.password).digest("base64");
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.expires > now) return hit.user;
      this.#cache.delete(key);
    }
    const epoch = this.#epoch;
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      const started: Promise<boolean> = this.verify(creds.user, creds.password).finally(() => {
        if (this.#inflight.get(key) === started) this.#inflight.delete(key);
      });
      pending = started;
      this.#inflight.set(key, pending);
    }
    if (!(await pending)) {
      throw new StrataError(
        "AuthenticationFailed",
        `authentication failed for user "${creds.user}": wrong user name or password`,
      );
    }
    if (this.#ttlMs > 0 && epoch === this.#epoch) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
      this.#cache.set(key, { user: creds.user, expires: this.#now() + this.#ttlMs });
    }
    return creds.user;
  }

  #forget(user: string): void {
    this.#epoch++;
    this.#inflight.clear();
    for (const [k, e] of this.#cache) if (e.user === user) this.#cache.delete(k);
  }
}
