// The ROC console in Debian's chromium (headless), driven by playwright-core.
// Starts roc-ns, the calculator example and roc-gateway (real processes on
// 127.0.0.1, free ports), registers demo.calc, then in the page: picks the
// name, picks a method, types arguments, calls and checks the result in the
// DOM; does the same for a call that raises and checks the exception shown;
// checks the stats panel; saves a screenshot (console-test/console.png).
// Run by tests/console/run.sh.
import { spawn, execFileSync } from "node:child_process";
import { join } from "node:path";
import { chromium } from "playwright-core";

const B = process.env.ROC_BINARY_DIR;
const CONSOLE = process.env.ROC_CONSOLE_DIR;
const CHROMIUM = process.env.ROC_CHROMIUM || "/usr/bin/chromium";
const children = [];

// Starts a program and resolves with its first line on stdout (deadline).
function start(bin, args) {
  const p = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(p);
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${bin}: no first line in 10 s`)), 10000);
    p.on("exit", (code) => reject(new Error(`${bin} exited with ${code}`)));
    p.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl).trim());
      }
    });
  });
}

function stopAll() {
  for (const p of children) if (p.exitCode === null) p.kill("SIGTERM");
}

function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok - " + what);
}

let browser;
try {
  const nsUri = await start(join(B, "nameserver/roc-ns"), ["--url", "tcp://127.0.0.1:0"]);
  const nsUrl = nsUri.slice(nsUri.indexOf("@") + 1);
  const calcUri = await start(join(B, "examples/calculator/calc-server"), ["tcp://127.0.0.1:0"]);
  execFileSync(join(B, "tools/roc"), ["--ns", nsUrl, "ns", "register", "demo.calc", calcUri, "--meta", "calc"]);
  const gw = await start(join(B, "gateway/roc-gateway"),
    ["--listen", "http://127.0.0.1:0", "--ns", nsUrl, "--allow", "demo.calc", "--console", CONSOLE]);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    // playwright gives chromium a new empty profile of its own
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const offsite = [];
  page.on("request", (r) => { if (!r.url().startsWith(gw)) offsite.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.setDefaultTimeout(15000);

  await page.goto(gw + "/");
  await page.waitForSelector('#health.ok');
  check(true, "the console loads and the gateway reaches the name server");

  const item = page.locator('li[data-name="demo.calc"]');
  await item.waitFor();
  check((await item.textContent()).includes(calcUri), "the name list shows demo.calc with its URI");
  await item.click();

  await page.waitForSelector('#method option[value="add"]', { state: "attached" });
  check((await page.locator("#iface").textContent()).includes("demo.Calculator"),
    "the interface is described");
  await page.waitForSelector('#objects li[data-object="calc"]');
  check(true, "the daemon's objects are listed");

  await page.selectOption("#method", "add");
  await page.fill("#arg-0", "40");
  await page.fill("#arg-1", "2");
  await page.click("#call");
  await page.waitForFunction(() => document.getElementById("result").textContent === "42");
  check((await page.locator("#status").textContent()) === "200", "add(40, 2) shows 42");

  await page.selectOption("#method", "divide");
  await page.fill("#arg-0", "1");
  await page.fill("#arg-1", "4");
  await page.click("#call");
  await page.waitForFunction(() => document.getElementById("result").textContent === "0.25");
  check(true, "divide(1, 4) with JSON integers for f64 shows 0.25");

  await page.fill("#arg-1", "0");
  await page.click("#call");
  await page.waitForFunction(() => document.getElementById("error-type").textContent === "demo.DivideByZero");
  const shown = await page.locator("#result").textContent();
  check((await page.locator("#status").textContent()) === "500" && shown.includes("1 / 0"),
    "divide(1, 0) shows the exception demo.DivideByZero and its message");

  await page.waitForFunction(() => {
    const row = document.querySelector('#stats tr[data-key="calls"] td:last-child');
    return row && Number(row.textContent) >= 3;
  });
  check(true, "the stats panel shows the daemon's calls");

  await page.screenshot({ path: join(B, "console-test", "console.png"), fullPage: true });
  check(offsite.length === 0, "nothing is fetched from outside the gateway " + JSON.stringify(offsite));
  check(errors.length === 0, "no script errors " + JSON.stringify(errors));
  console.log("PASS");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  stopAll();
}
