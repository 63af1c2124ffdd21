export { type Credentials, parseGrpcAuthorization, parseHttpAuthorization } from "./credentials.ts";
export { hashPassword, type PasswordHash, randomPassword, verifyPassword } from "./password.ts";
export { AuthService, type AuthServiceOptions } from "./service.ts";
export { ROOT_USER, USER_PREFIX, UserStore, validatePassword, validateUserName } from "./users.ts";
