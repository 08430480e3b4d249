import { createRoot } from "react-dom/client";
import { PayerPanel } from "./App.jsx";

// The example reads its settings from the URL fragment (never sent to a server) so one static
// build serves any test; a biller's page renders the biller JWT into the page instead.
const settings = new URLSearchParams(location.hash.slice(1));
createRoot(document.getElementById("root")).render(
  <PayerPanel apiBase={settings.get("api") || "http://localhost:7071"} billerJwt={settings.get("jwt") || ""}
              flow={settings.get("flow") || "auto"} />,
);
