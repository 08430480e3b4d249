// The component's flows and the cross-site checks in a second engine: Debian's firefox-esr, driven
// over WebDriver BiDi by puppeteer-core (no downloaded browser). The demo pages are on
// http://127.0.0.1:<port>, the functions on http://localhost:<port>: another site, as on a biller's page.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";
import { startSites } from "./sites.js";

const FIREFOX = process.env.FIREFOX || "/usr/bin/firefox-esr";
const OUTPUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
const SETTLED = "payer-auth[data-state=ready], payer-auth[data-state=error]";
const READY = "Connected. Your payment session is anonymous.";
const ORIGIN_MISMATCH = "This page's address is not allowed for this biller JWT.";
const REJECTED = "This biller JWT has expired or has been revoked.";
const NETWORK = "The payment service could not be reached. Check your connection and try again.";

let browser;
let sites;

before(async () => {
  assert.ok(existsSync(FIREFOX), `${FIREFOX} is missing: run \`make system-deps\` (apt-get install firefox-esr)`);
  sites = await startSites();
  browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true });
});

after(async () => {
  await browser?.close();
  await sites?.stop();
});

/** Open a page in a fresh browsing context (its own cookie jar) and wait for the component. */
async function open(url) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const requests = [];
  page.on("request", (request) => requests.push(request));
  await page.goto(url);
  await page.waitForSelector(SETTLED, { timeout: 15_000 });
  const result = await page.evaluate(() => window.payerAuthResult);
  const status = await page.$eval("payer-auth", (e) => e.shadowRoot.querySelector("[part~=status]").textContent);
  return { context, page, requests, result, status };
}

async function shot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: `${OUTPUT}firefox-${name}.png`, fullPage: true });
}

const sessionCookies = async (context) =>
  (await context.cookies()).filter((c) => c.name === "__Host-payer_session");
const pageStorage = (page) => page.evaluate(() => [document.cookie, localStorage.length + sessionStorage.length]);

describe("firefox: the flows, cross-site", () => {
  for (const [flow, used] of [["auto", "bootstrap"], ["bootstrap", "bootstrap"], ["cookie", "cookie"],
                              ["body", "body"]]) {
    test(`${flow} ends on ${used} and shows the biller`, async () => {
      const { context, page, result, status } = await open(`${sites.ok}?flow=${flow}`);
      try {
        assert.equal(result.flow, used, JSON.stringify(result));
        assert.equal(result.profile.displayName, "Demo Biller");
        assert.equal(status, READY);
        assert.equal(await page.$eval("nav a[aria-current=page]", (a) => a.textContent), flow);
        await shot(page, flow);
      } finally {
        await context.close();
      }
    });
  }

  for (const flow of ["cookie", "bootstrap"]) {
    test(`${flow}: the token is an HttpOnly cookie page JavaScript never sees, sent back on the next call`,
         async () => {
      const { context, page } = await open(`${sites.ok}?flow=${flow}`);
      try {
        assert.deepEqual(await pageStorage(page), ["", 0]);
        const [cookie] = await sessionCookies(context);
        assert.ok(cookie, "Firefox kept the session cookie (Total Cookie Protection: the biller site's jar)");
        assert.ok(cookie.httpOnly && cookie.secure);
        // No token in page memory in these flows: the call succeeds only because the cookie went with it.
        const name = await page.evaluate(() => document.querySelector("payer-auth").profile().then((p) => p.displayName));
        assert.equal(name, "Demo Biller");
      } finally {
        await context.close();
      }
    });
  }

  test("body: the token stays in memory and goes out as a Bearer header; no cookie", async () => {
    const { context, page, requests } = await open(`${sites.ok}?flow=body`);
    try {
      const profile = requests.find((r) => r.url().endsWith("/api/payer/profile") && r.method() === "GET");
      assert.match(profile.headers().authorization, /^Bearer /);
      assert.deepEqual(await pageStorage(page), ["", 0]);
      assert.deepEqual(await sessionCookies(context), []);
    } finally {
      await context.close();
    }
  });

  test("logout ends the cookie session: the next call is refused", async () => {
    const { context, page } = await open(`${sites.ok}?flow=bootstrap`);
    try {
      const status = await page.evaluate(async () => {
        const el = document.querySelector("payer-auth");
        await el.logout();
        return el.profile().then(() => 200, (e) => e.status);
      });
      assert.equal(status, 401);
    } finally {
      await context.close();
    }
  });
});

test("firefox: the demo renders styled under a strict CSP (no 'unsafe-inline')", async () => {
  const { context, page, result } = await open(`${sites.csp}?flow=bootstrap`);
  try {
    assert.equal(result.flow, "bootstrap");
    const radius = await page.$eval("payer-auth", (e) => getComputedStyle(e).borderTopLeftRadius);
    assert.equal(radius, "8px"); // the adopted sheet applies, themed by the demo's custom property
    await shot(page, "strict-csp");
  } finally {
    await context.close();
  }
});

describe("firefox: errors a person can act on", () => {
  test("a page whose origin the biller JWT does not name gets no token, no cookie, and a message", async () => {
    const { context, page, result, status } = await open(`${sites.mismatch}?flow=auto`);
    try {
      assert.deepEqual(await sessionCookies(context), []);
      // Readable once the token route grants CORS on its errors (issue 10); a network failure before.
      const expected = result.error.code === "origin_mismatch" ? ORIGIN_MISMATCH : NETWORK;
      assert.equal(result.error.message, expected);
      assert.equal(status, expected);
      await shot(page, "error-origin-mismatch");
    } finally {
      await context.close();
    }
  });

  test("a revoked biller JWT is refused, not mistaken for a network failure", async () => {
    const { context, page, result, status } = await open(`${sites.revoked}?flow=bootstrap`);
    try {
      assert.equal(result.error.status, 400);
      assert.equal(result.error.kind, "refused");
      if (result.error.code === "jti_inactive") assert.equal(status, REJECTED);
      assert.equal(status, result.error.message);
      assert.deepEqual(await sessionCookies(context), []);
      await shot(page, "error-revoked");
    } finally {
      await context.close();
    }
  });

  test("no answer at all is a network failure with a retry button", async () => {
    const { context, page, result, status } = await open(`${sites.network}?flow=auto`);
    try {
      const { description, ...rest } = result.error;
      assert.ok(description);
      assert.deepEqual(rest, { code: "network_error", status: 0, message: NETWORK, retryAfter: null,
                               kind: "network", error: "network_error" });
      assert.equal(status, NETWORK);
      assert.equal(await page.$eval("payer-auth", (e) => e.shadowRoot.querySelector("[part~=retry]").hidden), false);
    } finally {
      await context.close();
    }
  });

  test("a service whose databases are down is shown as unavailable (last: it stays down)", async () => {
    await sites.down();
    const { context, page, result, status } = await open(`${sites.ok}?flow=cookie`);
    try {
      assert.equal(result.error.status, 503);
      assert.equal(result.error.kind, "unavailable");
      const expected = result.error.retryAfter === null
        ? "The payment service is unavailable. Please try again later."
        : `The payment service is unavailable. Please try again in ${result.error.retryAfter} s.`;
      assert.equal(status, expected);
      await shot(page, "error-service-down");
    } finally {
      await context.close();
    }
  });
});
