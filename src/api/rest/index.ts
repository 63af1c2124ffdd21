export { MAX_REST_BODY_BYTES } from "./body.ts";
export { createRestHandler, type RestDeps } from "./handler.ts";
