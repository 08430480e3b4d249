// Starts client/test/sites.py (the service, the local host and demo pages on ephemeral ports)
// with the project's Python, and hands back the URLs it printed.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LOCAL_VENV_PYTHON = `${ROOT}.venv/bin/python`;

export function python() {
  return process.env.PYTHON || (existsSync(LOCAL_VENV_PYTHON) ? LOCAL_VENV_PYTHON : "python3");
}

export async function startSites() {
  const child = spawn(python(), [fileURLToPath(new URL("sites.py", import.meta.url))],
                      { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (what) => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`client/test/sites.py ended before printing ${what}`);
    return value;
  };
  const urls = JSON.parse(await next("its URLs"));
  return {
    ...urls,
    /** Make the service's databases unreachable (every later exchange answers 503). */
    async down() {
      child.stdin.write("down\n");
      await next("down");
    },
    async stop() {
      child.stdin.end("quit\n");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}
