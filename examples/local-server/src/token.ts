/** Prints an HS256 bearer token for the --http mode: `token.ts <subject> [role ...]`. */
import { SignJWT } from "jose";

const [subject, ...roles] = process.argv.slice(2);
const secret = process.env.MCP_PDP_JWT_SECRET;
if (!subject || !secret) {
  console.error("Usage: MCP_PDP_JWT_SECRET=... token.ts <subject> [role ...]");
  process.exit(2);
}
const token = await new SignJWT({ roles })
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(subject)
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(new TextEncoder().encode(secret));
console.log(token);
