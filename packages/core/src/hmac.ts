import { ConfigError } from "./errors.js";

/**
 * The shortest HMAC key each algorithm accepts: RFC 7518 §3.2 requires a key at least as long as
 * the hash output. A shorter secret is within reach of an offline brute force on any one token.
 */
const HMAC_MINIMUM_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/**
 * Refuses an HMAC secret shorter than the strongest accepted algorithm requires. `where` names the
 * option or variable to fix; the secret itself never appears in the message.
 */
export function checkHmacSecret(
  where: string,
  secret: string | Uint8Array,
  algorithms: readonly string[],
): void {
  let strongest: string | undefined;
  let minimum = 0;
  for (const algorithm of algorithms) {
    const bytes = HMAC_MINIMUM_BYTES[algorithm] ?? 0;
    if (bytes > minimum) {
      minimum = bytes;
      strongest = algorithm;
    }
  }
  const length =
    typeof secret === "string" ? new TextEncoder().encode(secret).length : secret.length;
  if (strongest === undefined || length >= minimum) return;
  throw new ConfigError(
    `${where} is ${length} bytes; ${strongest} needs a secret of at least ${minimum} bytes (RFC 7518 §3.2: no shorter than the hash), e.g. the output of \`openssl rand -base64 ${minimum}\``,
  );
}
