// Completes the standalone build: Next.js leaves the browser assets out of
// .next/standalone, and its server.js serves them from there.
import { cpSync, existsSync } from "node:fs";

cpSync(".next/static", ".next/standalone/.next/static", { recursive: true });
if (existsSync("public")) cpSync("public", ".next/standalone/public", { recursive: true });
