// Bundles host.mjs for the browser (esbuild, from npm) into the file named
// by the first argument: test output, never committed.
import { build } from "esbuild";

const out = process.argv[2];
if (!out) throw new Error("usage: node build-host.mjs OUT.js");
await build({ entryPoints: ["host.mjs"], bundle: true, format: "esm", platform: "browser", outfile: out, logLevel: "warning", legalComments: "none" });
console.log("built " + out);
