import { openEmbeddedMq } from "../../src/mq/index.ts";
import { tempDir } from "../helpers/env.ts";
import { mqContract } from "./contract.ts";

mqContract("embedded file log", {
  fresh: async () => {
    const { dir, cleanup } = await tempDir("strata-mq-");
    // Small segments so the contract also runs across segment boundaries.
    return { open: () => openEmbeddedMq({ dir, segmentBytes: 64 * 1024 }), cleanup };
  },
});
