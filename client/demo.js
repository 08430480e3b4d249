// The demo biller page's script (a file, not inline: the page's CSP has no 'unsafe-inline').
import "./payer-auth.js";

const WHY = {
  "auto:bootstrap": "auto chose bootstrap: the browser sent the session cookie back on the next call",
  "auto:body-fallback": "auto fell back to body: the browser did not send the session cookie back "
    + "(third-party cookies blocked), so the token is kept in memory",
};

const demo = document.getElementById("demo");
const flow = new URLSearchParams(location.search).get("flow") || "auto";
for (const link of document.querySelectorAll("nav a")) {
  if (new URL(link.href).searchParams.get("flow") === flow) link.setAttribute("aria-current", "page");
}

const report = document.getElementById("flow-report");
const el = document.createElement("payer-auth");
el.setAttribute("api-base", demo.dataset.apiBase);
el.setAttribute("biller-jwt", demo.dataset.billerJwt);
el.setAttribute("flow", flow);
el.addEventListener("payer-auth-ready", (e) => {
  window.payerAuthResult = e.detail;
  const why = WHY[`${e.detail.requested}:${e.detail.flow}`] || `${e.detail.flow} was asked for`;
  report.textContent = `Flow used: ${e.detail.flow} (${why}).`;
});
el.addEventListener("payer-auth-error", (e) => {
  // The component shows (and announces) the message; the page only records that no flow completed.
  window.payerAuthResult = { error: e.detail };
  report.textContent = `Flow used: none (${flow} did not complete: ${e.detail.code}).`;
});
document.getElementById("slot").append(el);
