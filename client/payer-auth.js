// <payer-auth>: the reference web component. No dependencies, no build step.
//
//   <script type="module" src="payer-auth.js"></script>
//   <payer-auth biller-jwt="eyJ..." api-base="https://payer.example.com" flow="auto"></payer-auth>
//
// Flows (attribute `flow`):
//   body      - POST api/payer/token, token in the response body, kept in memory only,
//               sent as Authorization: Bearer. Works everywhere; the token is visible to page JS.
//   cookie    - POST api/payer/token with token_delivery=cookie: an HttpOnly, Partitioned cookie.
//   bootstrap - POST api/payer/bootstrap: cookie plus the first data in one round trip.
//   auto      - (default) bootstrap, then confirm on the next call that the cookie comes back;
//               if the browser did not keep it (third-party cookies blocked), fall back to body.
//
// The component never writes a token to localStorage, sessionStorage or document.cookie.
// Events (bubbling, composed):
//   payer-auth-ready  detail {flow, requested, profile}
//   payer-auth-error  detail {code, status, message, retryAfter, kind, error, description}
// Styling: CSS custom properties (--payer-auth-*) and ::part() names; styles are adopted
// (constructable stylesheets), never injected, so a CSP without 'unsafe-inline' is enough.
// Text: English defaults, overridden by the `strings` property or `text-*` attributes.
// The types and the biller's guide are payer-auth.d.ts and README.md beside this file.

const GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const FLOWS = ["auto", "bootstrap", "cookie", "body"];

export const DEFAULT_STRINGS = Object.freeze({
  connecting: "Connecting to the payment service…",
  ready: "Connected. Your payment session is anonymous.",
  biller: "Biller",
  site: "Site",
  status: "Status",
  retry: "Try again",
  originMismatch: "This page's address is not allowed for this biller JWT.",
  billerJwtRejected: "This biller JWT has expired or has been revoked.",
  billerJwtMissing: "No biller JWT was given to the payment component.",
  unavailable: "The payment service is unavailable. Please try again later.",
  unavailableRetry: "The payment service is unavailable. Please try again in {seconds} s.",
  network: "The payment service could not be reached. Check your connection and try again.",
  sessionEnded: "Your payment session has ended. Reload the page to start again.",
  refused: "The payment service refused this request ({code}).",
});

const kebab = (key) => key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const TEXT_ATTRIBUTES = Object.fromEntries(Object.keys(DEFAULT_STRINGS).map((k) => ["text-" + kebab(k), k]));

// Stable reasons (the service's error_uri) that mean "this page may not use this biller JWT".
const ORIGIN_REASONS = new Set(["origin_mismatch", "origin_missing", "origin_null", "origin_invalid",
                                "origin_not_https", "payer_origin_mismatch"]);
// ... and those that mean "this biller JWT no longer works": expired, revoked, or replaced.
const REJECTED_REASONS = new Set(["biller_token_expired", "jti_inactive", "jti_unknown", "jti_mismatch"]);
const UNAVAILABLE_REASONS = new Set(["temporarily_unavailable", "database_unavailable", "key_store_unavailable"]);

const CSS = `
:host {
  display: block; box-sizing: border-box; max-width: 28rem;
  font: var(--payer-auth-font, 15px/1.45 system-ui, sans-serif);
  color: var(--payer-auth-color, #1d2230);
  background: var(--payer-auth-background, #ffffff);
  border: 1px solid var(--payer-auth-border-color, #c3c8d4);
  border-radius: var(--payer-auth-radius, 10px);
  padding: var(--payer-auth-padding, 14px 16px);
}
:host([hidden]), [hidden] { display: none !important; }
[part~="status"] { margin: 0; color: var(--payer-auth-muted-color, #4b5263); }
:host([data-state="error"]) [part~="status"] {
  color: var(--payer-auth-error-color, #9b1c1c);
  background: var(--payer-auth-error-background, #fdf0f0);
  border-left: 3px solid currentColor; padding: 6px 10px;
  border-radius: calc(var(--payer-auth-radius, 10px) / 2);
}
[part~="profile"] { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 10px 0 0; }
[part~="label"] { font-weight: 600; }
[part~="value"] { margin: 0; overflow-wrap: anywhere; }
[part~="retry"] {
  font: inherit; margin-top: 10px; padding: 6px 14px; cursor: pointer; border: 0;
  color: var(--payer-auth-accent-text, #ffffff); background: var(--payer-auth-accent, #1f5fbf);
  border-radius: calc(var(--payer-auth-radius, 10px) / 2);
}
[part~="retry"]:focus-visible { outline: 3px solid var(--payer-auth-accent, #1f5fbf); outline-offset: 2px; }
`;

let sharedSheet = null;
function styleSheet() {
  if (!sharedSheet) {
    sharedSheet = new CSSStyleSheet();
    sharedSheet.replaceSync(CSS);
  }
  return sharedSheet;
}

// No inline style attributes (blocked by style-src without 'unsafe-inline'): classes, parts and `hidden`.
const TEMPLATE = `
  <div part="container">
    <p part="status" role="status" aria-live="polite" aria-atomic="true"></p>
    <dl part="profile" hidden>
      <dt part="label" data-text="biller"></dt><dd part="value" data-field="displayName"></dd>
      <dt part="label" data-text="site"></dt><dd part="value" data-field="domain"></dd>
      <dt part="label" data-text="status"></dt><dd part="value" data-field="status"></dd>
    </dl>
    <button part="retry" type="button" data-text="retry" hidden></button>
  </div>`;

export class PayerAuthError extends Error {
  constructor({ code, status = 0, kind, retryAfter = null, error = code, description = "" }) {
    super(description || code);
    this.code = code;
    this.status = status;
    this.kind = kind;
    this.retryAfter = retryAfter;
    this.error = error; // what the service said, for developers: its OAuth `error` ...
    this.description = description; // ... and `error_description` (or problem `detail`)
  }
}

// The stable reason: error_uri's fragment or last path segment (problem+json: `type`), else `error`.
export function reasonOf(problem) {
  const uri = problem && (problem.error_uri || problem.type);
  if (typeof uri === "string" && uri) {
    try {
      const url = new URL(uri, "https://reason.invalid/");
      const tail = url.hash ? url.hash.slice(1) : url.pathname.split(/[/:]/).filter(Boolean).pop();
      if (tail) return decodeURIComponent(tail).replace(/-/g, "_");
    } catch (_) { /* not a URL: fall back */ }
  }
  return problem && typeof problem.error === "string" ? problem.error : null;
}

// Retry-After is delta-seconds or an HTTP date (RFC 9110 10.2.3); null when absent or unreadable.
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

function kindOf(status, code) {
  if (status === 0) return "network";
  if (status >= 500 || status === 429 || UNAVAILABLE_REASONS.has(code)) return "unavailable";
  return "refused";
}

export class PayerAuthElement extends HTMLElement {
  static get observedAttributes() {
    return Object.keys(TEXT_ATTRIBUTES);
  }

  #token = null; // body flow only: memory, never storage
  #strings = {};
  #root;
  #started = false;
  #shown = null; // what the status region says: {key, values}

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.adoptedStyleSheets = [styleSheet()];
    this.#root.innerHTML = TEMPLATE;
    this.#part("retry").addEventListener("click", () => this.run());
    this.#renderText();
  }

  // Properties reflect their attributes (frameworks such as React 19 set properties when they exist).
  get apiBase() {
    return (this.getAttribute("api-base") || "http://localhost:7071").replace(/\/$/, "");
  }

  set apiBase(value) {
    this.setAttribute("api-base", value);
  }

  get billerJwt() {
    return this.getAttribute("biller-jwt");
  }

  set billerJwt(value) {
    this.setAttribute("biller-jwt", value);
  }

  get flow() {
    const flow = this.getAttribute("flow") || "auto";
    return FLOWS.includes(flow) ? flow : "auto";
  }

  set flow(value) {
    this.setAttribute("flow", value);
  }

  /** The text in use: English defaults, then the `strings` property, then `text-*` attributes. */
  get strings() {
    const fromAttributes = {};
    for (const [attribute, key] of Object.entries(TEXT_ATTRIBUTES)) {
      if (this.hasAttribute(attribute)) fromAttributes[key] = this.getAttribute(attribute);
    }
    return { ...DEFAULT_STRINGS, ...this.#strings, ...fromAttributes };
  }

  set strings(value) {
    this.#strings = value && typeof value === "object" ? { ...value } : {};
    this.#renderText();
  }

  connectedCallback() {
    if (this.#started) return; // moved in the page: the session goes on
    this.#started = true;
    this.run();
  }

  attributeChangedCallback() {
    this.#renderText();
  }

  /** Start (or retry) a payer session with the current attributes. */
  async run() {
    const requested = this.flow;
    this.dataset.state = "loading";
    this.#setStatus("connecting");
    try {
      const billerJwt = this.billerJwt;
      if (!billerJwt) {
        throw new PayerAuthError({ code: "biller_jwt_missing", kind: "configuration",
                                   description: "no biller-jwt attribute" });
      }
      const { used, profile } = await this.#runFlow(requested, billerJwt);
      this.#show(used, requested, profile);
    } catch (err) {
      this.#fail(err instanceof PayerAuthError ? err : new PayerAuthError({ code: "client_error", kind: "refused",
                                                                            description: String(err) }));
    }
  }

  async #runFlow(flow, billerJwt) {
    if (flow === "body" || flow === "cookie") {
      await this.#exchange(billerJwt, flow);
      return { used: flow, profile: await this.profile() };
    }
    const body = await this.#bootstrap(billerJwt);
    if (flow === "bootstrap") return { used: "bootstrap", profile: body.data.profile };
    // auto: one round trip, then make sure the browser sends the cookie back.
    try {
      await this.profile();
      return { used: "bootstrap", profile: body.data.profile };
    } catch (err) {
      if (err.status !== 401) throw err;
      await this.#exchange(billerJwt, "body"); // third-party cookies are blocked here
      return { used: "body-fallback", profile: await this.profile() };
    }
  }

  /** The protected call every later request looks like: Bearer in the body flow, else the cookie. */
  async profile() {
    const headers = this.#token ? { Authorization: `Bearer ${this.#token}` } : {};
    return this.#call("GET", "/api/payer/profile", { headers, credentials: this.#token ? "omit" : "include" });
  }

  async logout() {
    this.#token = null;
    await this.#call("POST", "/api/payer/logout", { credentials: "include" }, true);
  }

  async #exchange(billerJwt, delivery) {
    const body = await this.#call("POST", "/api/payer/token", {
      body: this.#form(billerJwt, { token_delivery: delivery }),
      credentials: delivery === "cookie" ? "include" : "omit",
    });
    this.#token = delivery === "body" ? body.access_token : null;
  }

  async #bootstrap(billerJwt) {
    this.#token = null;
    return this.#call("POST", "/api/payer/bootstrap", {
      body: this.#form(billerJwt, { resources: "profile" }),
      credentials: "include",
    });
  }

  // A form body keeps the exchange a CORS "simple request": no preflight round trip.
  #form(billerJwt, extra) {
    return new URLSearchParams({ grant_type: GRANT, subject_token_type: JWT_TYPE, subject_token: billerJwt, ...extra });
  }

  async #call(method, path, init, empty = false) {
    let response;
    try {
      response = await fetch(this.apiBase + path, { method, mode: "cors", cache: "no-store", ...init });
    } catch (_) {
      // A refusal the page may not read (no CORS grant) looks the same as no network at all.
      throw new PayerAuthError({ code: "network_error", kind: "network",
                                 description: "the payer service could not be reached" });
    }
    if (response.ok) return empty ? null : response.json();
    let problem = {};
    try { problem = await response.json(); } catch (_) { /* not JSON: status only */ }
    const code = reasonOf(problem) || `http_${response.status}`;
    throw new PayerAuthError({
      code, status: response.status, kind: kindOf(response.status, code),
      retryAfter: retryAfterSeconds(response.headers.get("Retry-After")),
      error: problem.error || problem.title || `http_${response.status}`,
      description: problem.error_description || problem.detail || response.statusText,
    });
  }

  #messageKey(err) {
    if (err.code === "biller_jwt_missing") return "billerJwtMissing";
    if (err.kind === "network") return "network";
    if (err.kind === "unavailable") return err.retryAfter ? "unavailableRetry" : "unavailable";
    if (ORIGIN_REASONS.has(err.code)) return "originMismatch";
    if (REJECTED_REASONS.has(err.code)) return "billerJwtRejected";
    if (err.status === 401) return "sessionEnded";
    return "refused";
  }

  #show(used, requested, profile) {
    this.dataset.flow = used;
    this.dataset.state = "ready";
    this.#setStatus("ready");
    for (const el of this.#root.querySelectorAll("[data-field]")) el.textContent = profile[el.dataset.field] ?? "";
    this.#part("profile").hidden = false;
    this.#part("retry").hidden = true;
    this.#emit("payer-auth-ready", { flow: used, requested, profile });
  }

  #fail(err) {
    this.dataset.state = "error";
    delete this.dataset.flow;
    this.#part("profile").hidden = true;
    const key = this.#messageKey(err);
    const message = this.#setStatus(key, { seconds: err.retryAfter, code: err.code });
    // Worth a retry only when the failure is not the page's or the biller JWT's.
    this.#part("retry").hidden = !(err.kind === "network" || err.kind === "unavailable");
    this.#emit("payer-auth-error", { code: err.code, status: err.status, message, retryAfter: err.retryAfter,
                                     kind: err.kind, error: err.error, description: err.description });
  }

  // One write per state: a live region announces each change once.
  #setStatus(key, values = {}) {
    this.#shown = { key, values };
    const text = this.#format(key, values);
    this.#part("status").textContent = text;
    return text;
  }

  #format(key, values) {
    return String(this.strings[key] ?? DEFAULT_STRINGS[key]).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  #renderText() {
    for (const el of this.#root.querySelectorAll("[data-text]")) el.textContent = this.#format(el.dataset.text, {});
    if (this.#shown) this.#part("status").textContent = this.#format(this.#shown.key, this.#shown.values);
  }

  #part(name) {
    return this.#root.querySelector(`[part~="${name}"]`);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get("payer-auth")) customElements.define("payer-auth", PayerAuthElement);
