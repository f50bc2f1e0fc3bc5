/**
 * What jwtIdentity's memo of verified tokens saves: resolutions per second of HS256 and RS256
 * tokens with the memo (the default, `verifiedCacheMs: 30000`) and without it (`0`), measured side
 * by side. Two workloads:
 *
 * - `session`: one token presented on every request (a session's steady state);
 * - `request`: a new token per HTTP request, resolved twice (identityChallenge, then the guard).
 *
 *   pnpm --filter @mcp-pdp/bench exec tsx jwt-memo.ts
 *
 * A measurement, not a figure of `pnpm bench`: it prints a table and writes nothing.
 */
import { type JwtIdentityOptions, type RequestContext, jwtIdentity } from "@mcp-pdp/core";
import { createHmac, generateKeyPairSync, sign as rsaSign } from "node:crypto";
import { formatRate, interleave, median, pairedRatio } from "./measure.js";

const SECRET = "a-bench-secret-that-is-long-enough-for-hs256";
const BATCH = 200;

interface Setup {
  readonly alg: "HS256" | "RS256";
  readonly options: JwtIdentityOptions;
  readonly sign: (sub: string) => string;
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** A compact JWS of `{sub, roles, iat, exp}` (an hour), signed by `signature`. */
function signer(alg: string, signature: (input: string) => Buffer): (sub: string) => string {
  return (sub) => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg, typ: "JWT" }));
    const payload = base64url(JSON.stringify({ sub, roles: ["user"], iat: now, exp: now + 3600 }));
    const input = `${header}.${payload}`;
    return `${input}.${base64url(signature(input))}`;
  };
}

function setups(): Setup[] {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return [
    {
      alg: "HS256",
      options: { algorithms: ["HS256"], secret: SECRET },
      sign: signer("HS256", (input) => createHmac("sha256", SECRET).update(input).digest()),
    },
    {
      alg: "RS256",
      options: {
        algorithms: ["RS256"],
        publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
      },
      sign: signer("RS256", (input) => rsaSign("sha256", Buffer.from(input), privateKey)),
    },
  ];
}

const bearer = (token: string): RequestContext => ({
  headers: { authorization: `Bearer ${token}` },
});

async function measure(setup: Setup): Promise<string[]> {
  const memo = jwtIdentity(setup.options);
  const none = jwtIdentity({ ...setup.options, verifiedCacheMs: 0 });
  const session = bearer(setup.sign("ada"));
  // Enough fresh tokens for every batch of the `request` workload on both sides.
  const rounds = 20;
  const warmup = 3;
  const fresh = Array.from({ length: 2 * BATCH * (rounds + warmup) }, (_, i) =>
    setup.sign(`u${i}`),
  );
  let next = 0;
  const check = (subject: { authenticated: boolean }) => {
    if (!subject.authenticated) throw new Error(`${setup.alg}: a valid token was refused`);
  };
  const sessionBatch = (resolve: typeof memo) => async () => {
    for (let i = 0; i < BATCH; i++) check(await resolve(session));
  };
  const requestBatch = (resolve: typeof memo) => async () => {
    for (let i = 0; i < BATCH; i++) {
      const context = bearer(fresh[next++ % fresh.length] as string);
      check(await resolve(context)); // identityChallenge
      check(await resolve(context)); // the guard
    }
  };
  const lines: string[] = [];
  for (const [workload, batch, unit] of [
    ["session", sessionBatch, "resolutions"],
    ["request", requestBatch, "requests"],
  ] as const) {
    const samples = await interleave(
      { memo: { run: batch(memo), per: BATCH }, none: { run: batch(none), per: BATCH } },
      { warmup, rounds },
    );
    const withMemo = 1000 / median(samples.memo ?? []);
    const without = 1000 / median(samples.none ?? []);
    const speedup = 1 / pairedRatio(samples.none ?? [], samples.memo ?? []);
    lines.push(
      `${setup.alg}  ${workload.padEnd(8)} without memo ${formatRate(without, unit).padStart(22)}   with memo ${formatRate(withMemo, unit).padStart(22)}   x${speedup.toFixed(1)}`,
    );
  }
  return lines;
}

for (const setup of setups()) {
  for (const line of await measure(setup)) console.log(line);
}
