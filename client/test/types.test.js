// payer-auth.d.ts is hand-written: hold it to what payer-auth.js really reads, fires and shows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

const source = await readFile(new URL("../payer-auth.js", import.meta.url), "utf8");
const types = await readFile(new URL("../payer-auth.d.ts", import.meta.url), "utf8");

// Just enough of a browser for the module to define its class.
globalThis.HTMLElement ??= class {};
globalThis.customElements ??= { get: () => undefined, define: () => {} };
const { DEFAULT_STRINGS, PayerAuthElement, reasonOf, retryAfterSeconds } = await import("../payer-auth.js");

const sorted = (items) => [...new Set(items)].sort();
const kebab = (key) => key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/** The member names of `export interface NAME { ... }` or the literals of `export type NAME = ...;`. */
function declared(name) {
  const iface = types.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`));
  if (iface) return sorted([...iface[1].matchAll(/^\s*(?:readonly\s+)?"?([\w-]+)"?\??:/gm)].map((m) => m[1]));
  const alias = types.match(new RegExp(`export type ${name} =([\\s\\S]*?);`));
  assert.ok(alias, `payer-auth.d.ts declares ${name}`);
  return sorted([...alias[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]));
}

function emittedFields(event) {
  const call = source.match(new RegExp(`#emit\\("${event}", \\{([^}]*)\\}`));
  assert.ok(call, `payer-auth.js fires ${event}`);
  return sorted(call[1].split(",").map((part) => part.split(":")[0].trim()).filter(Boolean));
}

test("the attributes typed are those the element reads or observes", () => {
  const read = [...source.matchAll(/(?:get|has)Attribute\("([\w-]+)"\)/g)].map((m) => m[1]);
  const observed = PayerAuthElement.observedAttributes;
  assert.deepEqual(declared("PayerAuthAttributes"), sorted([...read, ...observed]));
  assert.deepEqual(sorted(observed), sorted(Object.keys(DEFAULT_STRINGS).map((k) => "text-" + kebab(k))));
});

test("the events typed are those the element fires, with the same detail fields", () => {
  const fired = [...source.matchAll(/#emit\("([\w-]+)"/g)].map((m) => m[1]);
  assert.deepEqual(declared("PayerAuthEventMap"), sorted(fired));
  assert.deepEqual(declared("PayerAuthReadyDetail"), emittedFields("payer-auth-ready"));
  assert.deepEqual(declared("PayerAuthErrorDetail"), emittedFields("payer-auth-error"));
});

test("the strings, flows, parts and custom properties typed are the element's", () => {
  assert.deepEqual(declared("PayerAuthStrings"), sorted(Object.keys(DEFAULT_STRINGS)));
  const flows = JSON.parse(source.match(/const FLOWS = (\[[^\]]*\])/)[1]);
  assert.deepEqual(declared("PayerAuthFlow"), sorted(flows));
  assert.deepEqual(declared("PayerAuthPart"), sorted([...source.matchAll(/part="(\w+)"/g)].map((m) => m[1])));
  assert.deepEqual(declared("PayerAuthCustomProperty"),
                   sorted([...source.matchAll(/var\((--payer-auth-[\w-]+)/g)].map((m) => m[1])));
  const kinds = [...source.matchAll(/kind: "(\w+)"/g), ...source.matchAll(/return "(network|unavailable|refused)"/g)];
  assert.deepEqual(declared("PayerAuthErrorKind"), sorted(kinds.map((m) => m[1])));
});

test("the package points at the module and its types", async () => {
  const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.exports["."], { types: "./payer-auth.d.ts", default: "./payer-auth.js" });
  assert.equal(pkg.types, "./payer-auth.d.ts");
});

test("the stable reason comes from error_uri, then the problem type, then error", () => {
  assert.equal(reasonOf({ error: "invalid_request", error_uri: "https://x.example/errors#origin_mismatch" }),
               "origin_mismatch");
  assert.equal(reasonOf({ error: "invalid_request", error_uri: "https://x.example/problems/jti-inactive" }),
               "jti_inactive");
  assert.equal(reasonOf({ type: "https://x.example/problems/credential-missing" }), "credential_missing");
  assert.equal(reasonOf({ error: "temporarily_unavailable" }), "temporarily_unavailable");
  assert.equal(reasonOf({ error: "invalid_request", error_uri: "urn:example:errors:origin_mismatch" }),
               "origin_mismatch");
  assert.equal(reasonOf(null), null);
});

test("Retry-After is read as seconds or as a date", () => {
  assert.equal(retryAfterSeconds("5"), 5);
  assert.equal(retryAfterSeconds(null), null);
  assert.equal(retryAfterSeconds("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10);
  assert.equal(retryAfterSeconds("soon"), null);
});
