// Builds the React example into examples/react/dist/ (run by `npm run build`, from `make client`).
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";

const here = new URL(".", import.meta.url);
const dist = new URL("dist/", here);
await mkdir(dist, { recursive: true });
await build({
  entryPoints: [new URL("src/main.jsx", here).pathname],
  outfile: new URL("app.js", dist).pathname,
  bundle: true,
  format: "esm",
  jsx: "automatic",
  minify: true,
  target: ["chrome120", "firefox120", "safari17"],
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) await copyFile(new URL(file, here), new URL(file, dist));
console.log("built examples/react/dist/");
