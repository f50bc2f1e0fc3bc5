import { expect, it } from "vitest";
import * as api from "../src/index.js";

it("exports exactly its public surface", () => {
  expect(Object.keys(api).sort()).toEqual([
    "DEFAULT_EUNOMIA_ENDPOINT",
    "EUNOMIA_ENV",
    "EUNOMIA_MAX_BULK",
    "eunomiaAdmin",
    "eunomiaAdminFromEnv",
    "eunomiaFromEnv",
    "eunomiaMcpIdentity",
    "eunomiaOptionsFromEnv",
    "eunomiaPdp",
    "eunomiaView",
  ]);
});
