// A biller's React page using <payer-auth>: the custom element in JSX, its events driving React
// state. In the body flow the payer JWT stays inside the element (memory only): React never sees
// it, and asks the element to make the authorised call (element.profile()).
import { useLayoutEffect, useRef, useState } from "react";
import "../../../payer-auth.js";

export function PayerPanel({ apiBase, billerJwt, flow }) {
  const ref = useRef(null);
  const [session, setSession] = useState({ state: "loading" });
  const [loads, setLoads] = useState(0);

  // A layout effect attaches the listeners in the same commit that inserts the element,
  // before its first request can answer.
  useLayoutEffect(() => {
    const element = ref.current;
    const ready = (e) => { setSession({ state: "ready", ...e.detail }); setLoads(1); };
    const failed = (e) => setSession({ state: "error", error: e.detail });
    element.addEventListener("payer-auth-ready", ready);
    element.addEventListener("payer-auth-error", failed);
    return () => {
      element.removeEventListener("payer-auth-ready", ready);
      element.removeEventListener("payer-auth-error", failed);
    };
  }, []);

  async function reload() {
    const profile = await ref.current.profile();
    setSession((s) => ({ ...s, profile }));
    setLoads((n) => n + 1);
  }

  return (
    <section className="panel">
      <payer-auth ref={ref} api-base={apiBase} biller-jwt={billerJwt} flow={flow}></payer-auth>
      {session.state === "ready" && (
        <div className="react-state">
          <p>Signed in with flow: {session.flow}</p>
          <p>Biller: <strong data-testid="biller">{session.profile.displayName}</strong></p>
          <p>Profile loaded {loads} {loads === 1 ? "time" : "times"}</p>
          <button type="button" onClick={reload}>Load profile again</button>
        </div>
      )}
      {session.state === "error" && (
        <p className="react-state">Error: {session.error.code} (status {session.error.status})</p>
      )}
    </section>
  );
}
