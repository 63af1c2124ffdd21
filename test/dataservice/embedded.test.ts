import { join } from "node:path";
import { openEmbeddedKv } from "../../src/kv/index.ts";
import { openEmbeddedMq } from "../../src/mq/index.ts";
import { tempDir } from "../helpers/env.ts";
import { dataServiceSuite } from "./contract.ts";
import type { Backend } from "./harness.ts";

dataServiceSuite("the embedded kv and mq", {
  skip: false,
  async create() {
    const { dir, cleanup } = await tempDir("strata-ds-");
    const open = async () => ({
      kv: await openEmbeddedKv({ dir: join(dir, "kv") }),
      mq: await openEmbeddedMq({ dir: join(dir, "mq") }),
    });
    const b: Backend = {
      ...(await open()),
      async reopen() {
        await b.mq.close();
        await b.kv.close();
        Object.assign(b, await open());
      },
      async cleanup() {
        await b.mq.close();
        await b.kv.close();
        await cleanup();
      },
    };
    return b;
  },
});
