// The dashboard in a real browser (Debian's chromium through playwright-core)
// against a real lokd serving the shared CRM dataset.
//
//   node web/tests/dashboard.e2e.mjs          (ctest: web_dashboard_e2e, label e2e)
//
// Environment: LOK_BIN_DIR (lokd, lokctl; default build/bin), LOK_DATASET
// (default ../shared/datasets/crm-sales-opportunities from the repo root),
// LOK_WEB_ROOT (default web/dist), LOK_CHROMIUM (default /usr/bin/chromium),
// LOK_WEB_ARTIFACTS (screenshots; default build/web-test-artifacts),
// LOK_UPDATE_DOCS_SCREENSHOT=1 also writes docs/dashboard.png.
//
// Expected numbers come from the CSV files (computed here, independently of
// lokd) and, for the retention queue, from lokd's API; the page must show them.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const binDir = process.env.LOK_BIN_DIR ?? path.join(repoRoot, "build", "bin");
const dataset = process.env.LOK_DATASET ?? path.resolve(repoRoot, "..", "shared", "datasets", "crm-sales-opportunities");
const webRoot = process.env.LOK_WEB_ROOT ?? path.join(repoRoot, "web", "dist");
const chromiumPath = process.env.LOK_CHROMIUM ?? "/usr/bin/chromium";
const artifacts = process.env.LOK_WEB_ARTIFACTS ?? path.join(repoRoot, "build", "web-test-artifacts");
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT_MS = 30_000;

const work = mkdtempSync(path.join(tmpdir(), "lok-web-e2e-"));
let lokd;
let lokdLog = "";
let baseUrl = "";
let context;
let page;
const problems = []; // console errors, page errors, failed requests

// ---- helpers ---------------------------------------------------------------

function run(binary, args) {
  const result = spawnSync(path.join(binDir, binary), args, { encoding: "utf8" });
  assert.equal(result.status, 0, `${binary} ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

async function api(pathAndQuery) {
  const response = await fetch(baseUrl + pathAndQuery);
  const body = await response.text();
  assert.ok(response.ok, `${pathAndQuery}: ${response.status} ${body}`);
  return JSON.parse(body);
}

async function eventually(what, check, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

async function screenshot(name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

const text = (selector) => page.locator(selector).first().innerText();
const count = (value) => new Intl.NumberFormat("en-US").format(value);

// The funnel of the CSV files as the importer maps them: every row a lead,
// every row but Prospecting qualified, Won and Lost offers, Won, Lost.
function csvRows(file) {
  const [header, ...lines] = readFileSync(path.join(dataset, file), "utf8").trim().split(/\r?\n/);
  const names = header.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((value, index) => [names[index], value])));
}
function csvFunnel(keep) {
  const regionOf = Object.fromEntries(csvRows("sales_teams.csv").map((row) => [row.sales_agent, row.regional_office]));
  const stages = { LEAD: 0, QUALIFIED: 0, OFFER: 0, WON: 0, LOST: 0 };
  for (const row of csvRows("sales_pipeline.csv")) {
    if (!keep({ ...row, region: regionOf[row.sales_agent] ?? "" })) continue;
    stages.LEAD += 1;
    if (row.deal_stage !== "Prospecting") stages.QUALIFIED += 1;
    if (row.deal_stage === "Won" || row.deal_stage === "Lost") stages.OFFER += 1;
    if (row.deal_stage === "Won") stages.WON += 1;
    if (row.deal_stage === "Lost") stages.LOST += 1;
  }
  return stages;
}

async function expectFunnelOnPage(stages, label) {
  for (const [stage, deals] of Object.entries(stages)) {
    await eventually(`${label}: ${stage} = ${deals}`, async () => (await text(`[data-testid=deals-${stage}]`)) === count(deals));
  }
  const winRate = `${((stages.WON / (stages.WON + stages.LOST)) * 100).toFixed(1)} %`;
  await eventually(`${label}: win rate ${winRate}`, async () => (await text("[data-testid=kpi-win-rate] .kpi-value")) === winRate);
}

// ---- lokd with the dataset, and the browser ---------------------------------------

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  for (const [what, file] of [
    ["lokd", path.join(binDir, "lokd")],
    ["lokctl", path.join(binDir, "lokctl")],
    ["the built dashboard (cd web && npm ci && npm run build)", path.join(webRoot, "index.html")],
    ["the shared CRM dataset (LOK_DATASET)", path.join(dataset, "sales_pipeline.csv")],
    ["chromium (apt-get install chromium, or LOK_CHROMIUM)", chromiumPath],
  ]) {
    assert.ok(existsSync(file), `missing ${what}: ${file}`);
  }

  lokd = spawn(path.join(binDir, "lokd"), ["--data-dir", path.join(work, "data"), "--http", "127.0.0.1:0", "--web-root", webRoot], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const collect = (chunk) => (lokdLog += chunk.toString());
  lokd.stdout.on("data", collect);
  lokd.stderr.on("data", collect);
  const port = await eventually("lokd to listen", () => {
    assert.equal(lokd.exitCode, null, `lokd exited:\n${lokdLog}`);
    return lokdLog.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
  });
  baseUrl = `http://127.0.0.1:${port}`;

  const events = path.join(work, "crm.ndjson");
  run("lokctl", ["import-crm", dataset, "--out", events]);
  run("lokctl", ["publish", events, "--url", baseUrl]);
  const published = readFileSync(events, "utf8").trim().split("\n").length;
  await eventually(
    `lokd to apply ${published} events`,
    async () => {
      const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
      const applied = Number(metrics.match(/^lok_events_applied_total (\d+)/m)?.[1] ?? 0);
      return applied >= published;
    },
    300_000,
  );

  context = await chromium.launchPersistentContext(path.join(work, "chromium-profile"), {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    reducedMotion: "reduce",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    // page.goto() cancels the polls in flight; that is not a failure.
    const reason = request.failure()?.errorText ?? "";
    if (reason !== "net::ERR_ABORTED") problems.push(`request failed: ${request.url()} ${reason}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
});

after(async () => {
  await context?.close();
  if (lokd && lokd.exitCode === null) {
    lokd.kill("SIGTERM");
    await new Promise((resolve) => lokd.once("exit", resolve));
  }
  rmSync(work, { recursive: true, force: true });
});

// ---- the tests (in order, on one page) ---------------------------------------

test("the page loads with the dataset's funnel and KPIs", async () => {
  const stages = csvFunnel(() => true);
  assert.deepEqual(stages, { LEAD: 8800, QUALIFIED: 8300, OFFER: 6711, WON: 4238, LOST: 2473 });
  await page.goto(baseUrl + "/");
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT_MS });
  await expectFunnelOnPage(stages, "all deals");
  assert.equal(await text("[data-testid=kpi-win-rate] .kpi-value"), "63.2 %");
  assert.match(await text("[data-testid=kpi-average-won-deal] .kpi-value"), /^\$[\d,]+$/);
  assert.match(await page.title(), /Lok/);
  // The breakdown lists the dataset's 30 salespeople.
  assert.equal(await page.locator("[data-testid=breakdown-table-salesperson] tbody tr").count(), 30);
  await screenshot("01-overview");
});

test("a filter changes every number, lives in the URL and is shared by a link", async () => {
  const west = csvFunnel((row) => row.region === "West");
  const api_west = await api("/v1/funnel?region=West");
  assert.deepEqual(
    Object.fromEntries(api_west.stages.map((stage) => [stage.stage, Number(stage.deals)])),
    west,
    "lokd's funnel for region=West agrees with the CSV",
  );
  await page.selectOption("#filter-region", "West");
  await eventually("region=West in the URL", () => new URL(page.url()).searchParams.get("region") === "West");
  await expectFunnelOnPage(west, "region=West");
  await eventually("the breakdown follows the filter", async () => (await page.locator("[data-testid=breakdown-table-salesperson] tbody tr").count()) < 30);

  const agent = "Darcel Schlecht";
  const agentStages = csvFunnel((row) => row.sales_agent === agent);
  await page.goto(`${baseUrl}/?salesperson=${encodeURIComponent(agent)}`);
  await expectFunnelOnPage(agentStages, `salesperson=${agent}`);
  assert.equal(await page.inputValue("#filter-salesperson"), agent);
  await screenshot("02-filtered-salesperson");

  await page.click("#filters-reset");
  await expectFunnelOnPage(csvFunnel(() => true), "cleared filters");
  assert.equal(new URL(page.url()).search, "");
});

test("'known at' shows every panel as it stood: the day before the import nothing was known", async () => {
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const then = await api(`/v1/funnel?knownAt=${yesterday}`);
  assert.equal(then.knownAt, `${yesterday}T23:59:59.999Z`);
  assert.ok(
    then.stages.every((stage) => Number(stage.deals) === 0),
    "lokd had received no event by the end of yesterday",
  );
  await page.goto(`${baseUrl}/?knownAt=${yesterday}`);
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT_MS });
  for (const stage of ["LEAD", "WON"]) {
    await eventually(`known at ${yesterday}: ${stage} = 0`, async () => (await text(`[data-testid=deals-${stage}]`)) === count(0));
  }
  assert.equal(await page.inputValue("#filter-known-at"), yesterday);
  await eventually("the status line says so", async () => (await text("#live")).startsWith(`As known at the end of ${yesterday}`));
  await screenshot("03-known-at-yesterday");
  await page.click("#filters-reset");
  await expectFunnelOnPage(csvFunnel(() => true), "known now");
});

test("the retention queue lists regular clients with their reasons as of the 'to' date", async () => {
  const queue = await api("/v1/retention?asOf=2017-12-31&limit=50");
  assert.ok(queue.entries.length > 0, "lokd lists clients needing attention on 2017-12-31");
  const terms = new Set(queue.entries.flatMap((entry) => entry.reasons.map((reason) => reason.term)));
  assert.ok(terms.has("rhythm_broken") || terms.has("contact_overdue"), `terms: ${[...terms]}`);

  await page.goto(`${baseUrl}/?to=2017-12-31`);
  const rows = page.locator("[data-testid=retention-table] tbody tr");
  await eventually("the queue's rows", async () => (await rows.count()) === queue.entries.length);
  const first = queue.entries[0];
  assert.equal(await rows.first().getAttribute("data-key"), first.clientId, "ordered by score");
  const shownTerms = await rows.first().locator("[data-term]").evaluateAll((items) => items.map((item) => item.dataset.term));
  assert.deepEqual(shownTerms, first.reasons.map((reason) => reason.term));
  assert.match(await rows.first().innerText(), /since the last win|past due/);

  // Concentration as of the same day: the trailing 12 months of 2017.
  const concentration = await api("/v1/concentration?asOf=2017-12-31&limit=10");
  await eventually("the HHI", async () => (await text("[data-testid=hhi-value]")) === new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 }).format(concentration.overall.hhi));
  assert.equal(await page.locator("[data-testid=top-clients-table] tbody tr").first().getAttribute("data-key"), concentration.overall.topClients[0].clientId);
  await page.locator("#retention-panel").scrollIntoViewIfNeeded();
  await screenshot("03-as-of-2017-12-31");
  if (process.env.LOK_UPDATE_DOCS_SCREENSHOT === "1") {
    // The README's picture: the dataset as of its last day, funnel to concentration.
    await page.setViewportSize({ width: 1280, height: 1960 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(repoRoot, "docs", "dashboard.png") });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  // Sorting by keyboard: Tab to the Client header, Enter sorts A→Z.
  const clientHeader = page.locator("[data-testid=retention-table] thead th").first();
  await clientHeader.locator("button").focus();
  await page.keyboard.press("Enter");
  assert.equal(await clientHeader.getAttribute("aria-sort"), "ascending");
  const sortedIds = queue.entries.map((entry) => entry.clientId).sort((a, b) => a.localeCompare(b));
  assert.equal(await rows.first().getAttribute("data-key"), sortedIds[0]);
  await page.keyboard.press("Enter");
  assert.equal(await clientHeader.getAttribute("aria-sort"), "descending");
});

test("a client's card opens from the queue, in the URL, and closes with Escape", async () => {
  const queue = await api("/v1/retention?asOf=2017-12-31&limit=50");
  const clientId = queue.entries[0].clientId;
  const card = await api(`/v1/clients/${encodeURIComponent(clientId)}?asOf=2017-12-31`);

  await page.locator(`[data-testid=retention-table] a[data-client="${clientId}"]`).click();
  const dialog = page.locator("[data-testid=client-card]");
  await dialog.waitFor({ state: "visible", timeout: WAIT_MS });
  assert.equal(new URL(page.url()).searchParams.get("client"), clientId);
  await eventually("the card's title", async () => (await text("#card-title")) === clientId);
  const won = card.dealsByStage.find((stage) => stage.stage === "WON");
  await eventually("the card's deals", async () => (await text("[data-testid=card-deals]")).includes(`Won\n${count(Number(won.deals))}`));
  // The timeline lists the client's newest events with their log positions.
  const history = await api(`/v1/clients/${encodeURIComponent(clientId)}/history?order=desc&limit=50`);
  const newest = history.events[0];
  await eventually("the card's timeline", async () => {
    const timeline = await text("[data-testid=card-timeline]");
    return timeline.includes(newest.event.eventId) && timeline.includes(`log ${newest.partition ?? 0}/${newest.offset}`);
  });
  await screenshot("04-client-card");

  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden", timeout: WAIT_MS });
  assert.equal(new URL(page.url()).searchParams.get("client"), null);

  // A shared link opens the card directly.
  await page.goto(`${baseUrl}/?to=2017-12-31&client=${encodeURIComponent(clientId)}`);
  await dialog.waitFor({ state: "visible", timeout: WAIT_MS });
  await page.keyboard.press("Escape");
});

test("the page updates without a reload when new events land", async () => {
  await page.goto(baseUrl + "/");
  await expectFunnelOnPage(csvFunnel(() => true), "before the new event");
  await page.evaluate(() => (window.__sameDocument = true));
  const response = await fetch(`${baseUrl}/v1/events`, {
    method: "POST",
    body:
      JSON.stringify({
        event_id: "e2e-live-1",
        source: "e2e",
        occurred_at: "2017-06-01T10:00:00Z",
        client_id: "E2E Live Client",
        deal_id: "e2e-live-deal-1",
        lead_created: { salesperson: "Darcel Schlecht", region: "West", product: "GTX Basic" },
      }) + "\n",
  });
  assert.equal(response.status, 200, await response.text());
  await eventually("LEAD 8,801 after polling", async () => (await text("[data-testid=deals-LEAD]")) === count(8801), 20_000);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
});

test("usable at a phone's width without horizontal scrolling", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${baseUrl}/?to=2017-12-31`);
  await page.waitForSelector("body[data-ready=true]", { timeout: WAIT_MS });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await screenshot("05-phone");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("no console errors, page errors or failed requests", async () => {
  assert.deepEqual(problems, []);
});
