#!/usr/bin/env node
// The `mcp-pdp` bin. Committed rather than built, so pnpm can link it in a fresh clone before
// anything is compiled; the command itself is the compiled dist/cli.js.
import "../dist/cli.js";
