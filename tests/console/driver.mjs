// A headless chromium for tests/integration/test_console.py, driven by puppeteer-core over
// stdin/stdout: one JSON command a line in, one JSON answer a line out. Chromium is Debian's
// (/usr/bin/chromium, or $MESHDB_CHROMIUM); puppeteer never downloads a browser.
//
// Commands (each answers {"ok":true,"value":...} or {"ok":false,"error":"..."}):
//   {"cmd":"goto","url":U}                       load U, wait for the page's scripts
//   {"cmd":"type","selector":S,"text":T}         replace the value of input S with T
//   {"cmd":"click","selector":S}                 click S
//   {"cmd":"eval","expr":E}                      the value of expression E in the page
//   {"cmd":"wait","expr":E,"timeout_ms":N}       poll E every 50 ms until truthy; its value
//   {"cmd":"screenshot","path":P}                full-page PNG
//   {"cmd":"violations"}                         CSP violations and page errors seen so far
//   {"cmd":"close"}
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const browser = await puppeteer.launch({
  executablePath: process.env.MESHDB_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
  defaultViewport: { width: 1200, height: 900 },
});
const page = await browser.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => {
  if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
});
await page.evaluateOnNewDocument(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    (window.__cspViolations ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
  });
});

async function waitFor(expr, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await page.evaluate(expr);
      if (last) return last;
    } catch (e) {
      last = `evaluation failed: ${e.message}`;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${expr} (last value: ${JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const handlers = {
  goto: async ({ url }) => {
    await page.goto(url, { waitUntil: "load" });
    return page.url();
  },
  type: async ({ selector, text }) => {
    await page.$eval(selector, (el) => (el.value = ""));
    await page.type(selector, text);
  },
  click: async ({ selector }) => page.click(selector),
  eval: async ({ expr }) => page.evaluate(expr),
  wait: async ({ expr, timeout_ms }) => waitFor(expr, timeout_ms ?? 5000),
  screenshot: async ({ path }) => {
    await page.screenshot({ path, fullPage: true });
    return path;
  },
  violations: async () => [...problems, ...((await page.evaluate("window.__cspViolations || []")) || [])],
  close: async () => {
    await browser.close();
    process.exit(0);
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    const command = JSON.parse(line);
    const value = await handlers[command.cmd](command);
    answer = { ok: true, value: value === undefined ? null : value };
  } catch (e) {
    answer = { ok: false, error: String(e?.message ?? e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close();
