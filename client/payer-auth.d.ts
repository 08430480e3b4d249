// Types for <payer-auth> (payer-auth.js). Hand-written; client/test/types.test.js checks that the
// attributes, events, strings and flows named here are the ones the element uses.

/** How the payer session is obtained (attribute `flow`). */
export type PayerAuthFlow = "auto" | "bootstrap" | "cookie" | "body";

/** What actually ran: `auto` ends on `bootstrap`, or on `body-fallback` when the cookie did not come back. */
export type PayerAuthFlowUsed = "bootstrap" | "cookie" | "body" | "body-fallback";

/** The biller's public profile (GET api/payer/profile). */
export interface PayerAuthProfile {
  displayName: string;
  domain: string;
  status: string;
  [field: string]: unknown;
}

export interface PayerAuthReadyDetail {
  flow: PayerAuthFlowUsed;
  /** The `flow` attribute that was asked for. */
  requested: PayerAuthFlow;
  profile: PayerAuthProfile;
}

/**
 * - `network`: no answer the page may read (offline, DNS, or a refusal without CORS headers).
 * - `unavailable`: the service answered 5xx or 429; worth retrying (`retryAfter` when it said when).
 * - `refused`: the service refused this page or this biller JWT; retrying will not help.
 * - `configuration`: the element was not given what it needs (no `biller-jwt`).
 */
export type PayerAuthErrorKind = "network" | "unavailable" | "refused" | "configuration";

export interface PayerAuthErrorDetail {
  /**
   * A stable reason: the service's (from `error_uri`, e.g. `origin_mismatch`, `jti_inactive`,
   * `biller_token_expired`, `database_unavailable`), else its OAuth `error`, else `http_<status>`;
   * or the element's own `network_error`, `biller_jwt_missing`.
   */
  code: string;
  /** HTTP status; 0 when there was no readable answer. */
  status: number;
  /** The message shown (and announced) to the person, in the element's current strings. */
  message: string;
  /** Seconds from the service's `Retry-After`, or null. */
  retryAfter: number | null;
  kind: PayerAuthErrorKind;
  /** For developers and logs: the service's OAuth `error` (or problem `title`); `network_error` without an answer. */
  error: string;
  /** For developers and logs: the service's `error_description` (or problem `detail`), in English. */
  description: string;
}

/** Every text the element shows; `{seconds}` and `{code}` are filled in. */
export interface PayerAuthStrings {
  connecting: string;
  ready: string;
  biller: string;
  site: string;
  status: string;
  retry: string;
  originMismatch: string;
  billerJwtRejected: string;
  billerJwtMissing: string;
  unavailable: string;
  unavailableRetry: string;
  network: string;
  sessionEnded: string;
  refused: string;
}

/** Attributes, including one `text-<kebab-case key>` per string (e.g. `text-origin-mismatch`). */
export interface PayerAuthAttributes {
  "biller-jwt": string;
  "api-base"?: string;
  flow?: PayerAuthFlow;
  "text-connecting"?: string;
  "text-ready"?: string;
  "text-biller"?: string;
  "text-site"?: string;
  "text-status"?: string;
  "text-retry"?: string;
  "text-origin-mismatch"?: string;
  "text-biller-jwt-rejected"?: string;
  "text-biller-jwt-missing"?: string;
  "text-unavailable"?: string;
  "text-unavailable-retry"?: string;
  "text-network"?: string;
  "text-session-ended"?: string;
  "text-refused"?: string;
}

export interface PayerAuthEventMap {
  "payer-auth-ready": CustomEvent<PayerAuthReadyDetail>;
  "payer-auth-error": CustomEvent<PayerAuthErrorDetail>;
}

/** `::part()` names. */
export type PayerAuthPart = "container" | "status" | "profile" | "label" | "value" | "retry";

/** CSS custom properties read by the element. */
export type PayerAuthCustomProperty =
  | "--payer-auth-font"
  | "--payer-auth-color"
  | "--payer-auth-muted-color"
  | "--payer-auth-background"
  | "--payer-auth-border-color"
  | "--payer-auth-radius"
  | "--payer-auth-padding"
  | "--payer-auth-error-color"
  | "--payer-auth-error-background"
  | "--payer-auth-accent"
  | "--payer-auth-accent-text";

export declare const DEFAULT_STRINGS: Readonly<PayerAuthStrings>;

export declare class PayerAuthError extends Error {
  code: string;
  status: number;
  kind: PayerAuthErrorKind;
  retryAfter: number | null;
  error: string;
  description: string;
}

export declare function reasonOf(problem: unknown): string | null;
export declare function retryAfterSeconds(value: string | null, now?: number): number | null;

export declare class PayerAuthElement extends HTMLElement {
  static readonly observedAttributes: string[];
  /** `api-base`, without a trailing slash (default http://localhost:7071). */
  apiBase: string;
  /** `biller-jwt`. */
  billerJwt: string | null;
  flow: PayerAuthFlow;
  /** Reads the strings in use; a partial object sets overrides (the `text-*` attributes still win). */
  get strings(): PayerAuthStrings;
  set strings(value: Partial<PayerAuthStrings>);
  /** Start, or retry, a payer session with the current attributes. */
  run(): Promise<void>;
  /** GET api/payer/profile with the session (Bearer in the body flow, else the cookie). */
  profile(): Promise<PayerAuthProfile>;
  /** Forget the in-memory token and clear the session cookie. */
  logout(): Promise<void>;

  addEventListener<K extends keyof PayerAuthEventMap>(
    type: K, listener: (this: PayerAuthElement, ev: PayerAuthEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject,
                   options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof PayerAuthEventMap>(
    type: K, listener: (this: PayerAuthElement, ev: PayerAuthEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject,
                      options?: boolean | EventListenerOptions): void;
}

declare global {
  interface HTMLElementTagNameMap {
    "payer-auth": PayerAuthElement;
  }
  interface HTMLElementEventMap {
    "payer-auth-ready": CustomEvent<PayerAuthReadyDetail>;
    "payer-auth-error": CustomEvent<PayerAuthErrorDetail>;
  }
}
