// Feeds Mermaid text to the real Mermaid parser (mermaid.parse), as a viewer would before drawing it.
// stdin: one diagram, or Markdown whose ```mermaid blocks are each a diagram.
// stdout: one JSON line per diagram, {"ok": true, "type": ...} or {"ok": false, "error": ...}.
// Exit status: 0 all accepted, 1 some rejected, 2 no diagram on stdin.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// Mermaid sanitizes labels with DOMPurify, which binds to the global window when first imported:
// give it jsdom's before importing Mermaid (hence the dynamic import).
const { window } = new JSDOM("");
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import("mermaid");

const text = readFileSync(0, "utf8");
const fenced = [...text.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
const diagrams = fenced.length > 0 ? fenced : text.trim() ? [text] : [];
if (diagrams.length === 0) {
  console.error("parse.mjs: no Mermaid text on stdin");
  process.exit(2);
}
let rejected = 0;
for (const diagram of diagrams) {
  try {
    const { diagramType } = await mermaid.parse(diagram);
    console.log(JSON.stringify({ ok: true, type: diagramType }));
  } catch (error) {
    rejected += 1;
    console.log(JSON.stringify({ ok: false, error: String(error.message ?? error) }));
  }
}
process.exit(rejected ? 1 : 0);
