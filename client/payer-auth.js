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
// It reports what happened with a `payer-auth-ready` (detail: {flow, profile}) or
// `payer-auth-error` (detail: {status, error, description}) event and `data-flow` / `data-state`.

const GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";

class PayerAuthError extends Error {
  constructor(status, error, description) {
    super(description || error);
    this.status = status;
    this.error = error;
    this.description = description;
  }
}

class PayerAuthElement extends HTMLElement {
  #token = null; // body flow only: memory, never storage
  #root;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.innerHTML = `
      <style>
        :host { display: block; font: 14px/1.4 system-ui, sans-serif; border: 1px solid #ccd;
                border-radius: 8px; padding: 12px 16px; max-width: 28rem; }
        .muted { color: #667; } .error { color: #a11; } dt { font-weight: 600; } dd { margin: 0 0 6px; }
      </style>
      <div part="status" class="muted">Connecting…</div>
      <dl part="profile" hidden>
        <dt>Biller</dt><dd data-field="displayName"></dd>
        <dt>Site</dt><dd data-field="domain"></dd>
        <dt>Status</dt><dd data-field="status"></dd>
      </dl>`;
  }

  get apiBase() {
    return (this.getAttribute("api-base") || "http://localhost:7071").replace(/\/$/, "");
  }

  connectedCallback() {
    this.run();
  }

  async run() {
    const billerJwt = this.getAttribute("biller-jwt");
    const flow = this.getAttribute("flow") || "auto";
    this.dataset.state = "loading";
    try {
      if (!billerJwt) throw new PayerAuthError(0, "invalid_request", "no biller-jwt attribute");
      const { used, profile } = await this.#runFlow(flow, billerJwt);
      this.#show(used, profile);
    } catch (err) {
      this.#fail(err);
    }
  }

  async #runFlow(flow, billerJwt) {
    if (flow === "body") {
      await this.#exchange(billerJwt, "body");
      return { used: "body", profile: await this.profile() };
    }
    if (flow === "cookie") {
      await this.#exchange(billerJwt, "cookie");
      return { used: "cookie", profile: await this.profile() };
    }
    if (flow === "bootstrap") {
      const body = await this.#bootstrap(billerJwt);
      return { used: "bootstrap", profile: body.data.profile };
    }
    // auto: one round trip, then make sure the browser sends the cookie back.
    const body = await this.#bootstrap(billerJwt);
    try {
      await this.profile();
      return { used: "bootstrap", profile: body.data.profile };
    } catch (err) {
      if (err.status !== 401) throw err;
      await this.#exchange(billerJwt, "body"); // third-party cookies are blocked here
      return { used: "body-fallback", profile: await this.profile() };
    }
  }

  // The protected call every later request looks like: Bearer in the body flow, else the cookie.
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
    } catch (err) {
      throw new PayerAuthError(0, "network_error", "the payer service could not be reached");
    }
    if (response.ok) return empty ? null : response.json();
    let problem = {};
    try { problem = await response.json(); } catch (_) { /* not JSON */ }
    throw new PayerAuthError(response.status, problem.error || problem.type || "error",
                             problem.error_description || problem.detail || response.statusText);
  }

  #show(used, profile) {
    this.dataset.flow = used;
    this.dataset.state = "ready";
    const status = this.#root.querySelector("[part=status]");
    status.textContent = `Signed in anonymously (${used}).`;
    status.className = "muted";
    for (const el of this.#root.querySelectorAll("[data-field]")) el.textContent = profile[el.dataset.field] ?? "";
    this.#root.querySelector("[part=profile]").hidden = false;
    this.dispatchEvent(new CustomEvent("payer-auth-ready", { detail: { flow: used, profile }, bubbles: true }));
  }

  #fail(err) {
    this.dataset.state = "error";
    const status = this.#root.querySelector("[part=status]");
    status.textContent = `Could not start a payer session: ${err.description || err.message}`;
    status.className = "error";
    this.dispatchEvent(new CustomEvent("payer-auth-error", {
      detail: { status: err.status || 0, error: err.error || "error", description: err.description || err.message },
      bubbles: true,
    }));
  }
}

customElements.define("payer-auth", PayerAuthElement);
