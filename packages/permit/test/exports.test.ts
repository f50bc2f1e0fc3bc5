import { expect, it } from "vitest";
import * as api from "../src/index.js";

it("exports exactly its public surface", () => {
  expect(Object.keys(api).sort()).toEqual([
    "DEFAULT_KNOWN_METHODS",
    "DEFAULT_PERMIT_PDP_URL",
    "DEFAULT_TENANT",
    "PERMIT_ENV",
    "permitAuditFromEnv",
    "permitClientPdp",
    "permitFromEnv",
    "permitIdentityFromEnv",
    "permitMappingFromEnv",
    "permitOptionsFromEnv",
    "permitPdp",
    "readPermitEnv",
    "toPermitQuery",
  ]);
});
