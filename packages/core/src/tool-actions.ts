// The normalised actions of tools: internal to core (src/index.ts does not export this module).

const SEPARATORS = /[./_]/g;

/**
 * `.`, `/` and `_` turned into `-`, in time and memory linear in the name, as one flat string
 * (`replace` with many matches builds a rope of one node per match: 32 bytes a character).
 */
export function normalizeToolName(name: string): string {
  if (name.length <= 1024) return name.replace(SEPARATORS, "-");
  const codes = new Uint16Array(name.length);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    codes[i] = c === 0x2e || c === 0x2f || c === 0x5f ? 0x2d : c;
  }
  return Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength).toString("utf16le");
}

/**
 * The normalised names of tools servers listed, so each is normalised once. Only names a server
 * listed (and within the length limit) are kept, never one a client sent: bounded in count and
 * in size.
 */
export const listedActions = new Map<string, string>();

/**
 * Remembers the normalised action of a tool the server declared (listed, or registered where the
 * Authorizer can see its registrations). Internal to core: not part of the package's public surface.
 */
export function rememberListedTool(name: string): void {
  if (listedActions.has(name)) return;
  if (listedActions.size >= 4096) listedActions.clear();
  listedActions.set(name, normalizeToolName(name));
}
