// End-to-end walk through the console in headless Chromium, against a running
// console and gateway. Prints one JSON line with what it changed, for the
// caller to check against the admin API. Run by tests/test_console.py.
//
// Environment: CONSOLE_URL, GATEWAY_ADMIN_TOKEN, GATEWAY_API_KEY (a key of
// PROJECT_ID), PROJECT_ID, SCREENSHOT_DIR, CHROMIUM_PATH (default /usr/bin/chromium),
// CHAT_MODEL (a reasoning model with prices).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`The environment variable ${name} is missing; tests/test_console.py sets it.`);
  return value;
};
const consoleUrl = env("CONSOLE_URL");
const adminToken = env("GATEWAY_ADMIN_TOKEN");
const apiKey = env("GATEWAY_API_KEY");
const projectId = env("PROJECT_ID");
const screenshots = env("SCREENSHOT_DIR");
const chatModel = env("CHAT_MODEL", "anthropic/claude-haiku-4-5");
const executablePath = env("CHROMIUM_PATH", "/usr/bin/chromium");
// The dashboard reads every 3 s, and a usage event reaches ClickHouse after accounting's batch wait (0.2 s by
// default). 30 s leaves room for a slow machine.
const APPEAR_TIMEOUT_MS = 30_000;

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function step(name) {
  console.error(`console e2e: ${name}`);
}

async function shoot(page, name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

async function signIn(page) {
  step("sign in");
  await page.goto(`${consoleUrl}/signin`);
  await page.fill('input[name="admin-token"]', adminToken);
  await page.fill('input[name="project-key"]', apiKey);
  await shoot(page, "signin");
  await page.click('button[type="submit"]');
  await page.waitForURL("**/dashboard");
  await page.getByText(`project ${projectId}`).waitFor();
}

// Records, in the page, the order in which the reasoning block and the reply's content first received text.
async function watchFirstText(page) {
  await page.evaluate(() => {
    const seen = [];
    window.__firstText = seen;
    const observer = new MutationObserver(() => {
      const turn = [...document.querySelectorAll('[data-role="assistant"]')].at(-1);
      if (!turn) return;
      const reasoning = turn.querySelector('[data-testid="reasoning"] .content');
      const answer = turn.querySelector('[data-testid="answer"]');
      if (reasoning?.textContent && !seen.includes("reasoning")) seen.push("reasoning");
      if (answer?.textContent && answer.textContent !== "…" && !seen.includes("answer")) seen.push("answer");
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

async function chat(page) {
  step("streamed chat with thinking");
  await page.goto(`${consoleUrl}/playground`);
  await page.locator(`select[name="model"] option[value="${chatModel}"]`).waitFor({ state: "attached" });
  await page.selectOption('select[name="model"]', chatModel);
  await page.check('input[name="thinking"]');
  await page.fill('input[name="thinking-budget"]', "2048");
  await page.fill('textarea[name="message"]', "What is 17 times 23?");

  await page.click("text=Estimate cost");
  const estimate = page.getByTestId("estimate");
  await estimate.waitFor();
  assert.match(await estimate.innerText(), /prompt tokens/);

  await watchFirstText(page);
  await page.click('button[type="submit"]');
  const turn = page.locator('[data-role="assistant"][data-state="done"]').first();
  await turn.waitFor();
  const order = await page.evaluate(() => window.__firstText);
  assert.deepEqual(order, ["reasoning", "answer"], "the reasoning streams in before the answer");

  const reasoning = turn.getByTestId("reasoning");
  assert.ok((await reasoning.innerText()).length > "Reasoning".length, "the reasoning block has text");
  const placement = await turn.evaluate((element) => {
    const block = element.querySelector('[data-testid="reasoning"]');
    const answer = element.querySelector('[data-testid="answer"]');
    return block.compareDocumentPosition(answer) & Node.DOCUMENT_POSITION_FOLLOWING;
  });
  assert.ok(placement, "the reasoning block stands before the answer");
  assert.ok((await turn.getByTestId("answer").innerText()).trim().length > 0, "the answer has text");

  // The block collapses and opens again on a click of its summary.
  await reasoning.locator("summary").click();
  assert.equal(await reasoning.getAttribute("open"), null);
  await reasoning.locator("summary").click();

  const requestId = await turn.getAttribute("data-request-id");
  const cost = await turn.getByTestId("turn-cost").getAttribute("data-cost");
  assert.ok(requestId, "the turn carries its request id");
  assert.ok(Number(cost) > 0, `the turn shows a cost, not ${cost}`);
  await shoot(page, "playground");
  return { requestId, cost };
}

async function continueAndBranch(page) {
  step("continue the session, then branch from the first reply");
  await page.fill('textarea[name="message"]', "And times 24?");
  await page.click('button[type="submit"]');
  await page.locator('[data-role="assistant"][data-state="done"]').nth(1).waitFor();

  await page.locator('[data-role="assistant"]').first().getByText("Branch from here").click();
  assert.equal(await page.locator(".turn").count(), 2, "branching hides the later turns");
  await page.fill('textarea[name="message"]', "And times 25?");
  await page.click('button[type="submit"]');
  await page.locator('[data-role="assistant"][data-state="done"]').nth(1).waitFor();

  const sessionId = (await page.getByTestId("session-id").innerText()).trim();
  const listed = page.locator(".sessions li", { hasText: sessionId });
  await page.waitForFunction(
    (id) => [...document.querySelectorAll(".sessions li")].some((item) => item.textContent.includes(id) && item.textContent.includes("2 branches")),
    sessionId,
    { timeout: APPEAR_TIMEOUT_MS },
  );
  assert.match(await listed.innerText(), /6 turns/);

  step("open the session again from the list");
  await page.click("text=New session");
  assert.equal(await page.locator(".turn").count(), 0);
  await listed.getByRole("button", { name: sessionId }).click();
  await page.waitForFunction(() => document.querySelectorAll(".turn").length === 4);
  const texts = await page.locator(".turn .content").allInnerTexts();
  assert.ok(texts.some((text) => text.includes("And times 25?")), "the reopened session ends on the newest branch");
  assert.ok(!texts.some((text) => text.includes("And times 24?")), "the other branch stays out of view");
  assert.equal((await page.getByTestId("session-id").innerText()).trim(), sessionId);
  return sessionId;
}

async function dashboard(page, { requestId, cost }, sessionId) {
  step("the request on the dashboard");
  await page.goto(`${consoleUrl}/dashboard`);
  const row = page.locator(`tr[data-request-id="${requestId}"]`);
  await row.waitFor({ timeout: APPEAR_TIMEOUT_MS });
  assert.equal(await row.locator("[data-cost]").getAttribute("data-cost"), cost, "the dashboard shows the turn's cost");
  const text = await row.innerText();
  assert.ok(text.includes(chatModel), `the row names ${chatModel}: ${text}`);
  assert.ok(text.includes(sessionId), `the row names session ${sessionId}: ${text}`);
  await page.getByTestId("cost-chart").locator("svg").first().waitFor();
  assert.notEqual(await page.getByTestId("spent").innerText(), "$0");
  await shoot(page, "dashboard");
}

async function models(page) {
  step("model catalog");
  await page.goto(`${consoleUrl}/models`);
  const rows = page.locator("[data-testid=model-table] tbody tr");
  await rows.first().waitFor();
  const all = await rows.count();
  await page.check('input[name="capability-reasoning"]');
  const reasoning = await rows.count();
  assert.ok(reasoning > 0, "the reasoning filter keeps some models");
  assert.ok(reasoning < all, `the reasoning filter drops some models, not all ${all}`);
  const row = page.locator(`tr[data-model="${chatModel}"]`);
  assert.match(await row.innerText(), /reasoning/);
  await page.uncheck('input[name="capability-reasoning"]');
  await shoot(page, "models");
}

async function admin(page) {
  step("create and revoke a key, change a budget");
  await page.goto(`${consoleUrl}/admin`);
  const project = page.locator(`tr[data-project="${projectId}"]`);
  await project.getByText("Show keys").click();

  await page.fill('input[name="new-key-name"]', "console-e2e");
  await page.click("text=Create key");
  const secret = page.getByTestId("new-secret").locator("code");
  await secret.waitFor();
  const keyId = await secret.getAttribute("data-key-id");
  const key = await secret.innerText();
  const keyRow = page.locator(`tr[data-key-id="${keyId}"]`);
  await keyRow.waitFor();
  assert.equal(await keyRow.getByTestId("key-state").innerText(), "active");
  assert.equal(await keyStatus(page, key), 200, "the new key works");
  await shoot(page, "admin-new-key");

  await keyRow.getByText("Revoke").click();
  await keyRow.getByText("Confirm revoke").click();
  await keyRow.getByTestId("key-state").getByText(/^revoked/).waitFor();
  assert.equal(await page.getByTestId("new-secret").count(), 0, "the revoked key's secret is no longer shown");
  await page.waitForFunction(
    async (secretKey) => (await fetch("/edge/v1/models", { headers: { authorization: `Bearer ${secretKey}` } })).status === 401,
    key,
    { timeout: 10_000, polling: 200 },
  );

  const cap = "7.25";
  await project.locator('input[name="daily-cap"]').fill(cap);
  await project.getByText("Save cap").click();
  await project.getByTestId("cap-in-force").getByText("in force: $7.25").waitFor();

  const alias = `console-e2e-${Date.now()}`;
  await page.fill('input[name="alias"]', alias);
  await page.selectOption('select[name="alias-model"]', chatModel);
  await page.click("text=Set alias");
  const aliasRow = page.locator(`tr[data-alias="${alias}"]`);
  await aliasRow.waitFor();
  assert.ok((await aliasRow.innerText()).includes(chatModel), "the alias row names its model");
  await shoot(page, "admin");
  await aliasRow.getByText("Delete").click();
  await aliasRow.waitFor({ state: "detached" });
  return { keyId, cap, alias };
}

async function keyStatus(page, key) {
  return page.evaluate(async (secretKey) => (await fetch("/edge/v1/models", { headers: { authorization: `Bearer ${secretKey}` } })).status, key);
}

async function projectKeyOnly(page) {
  step("sign in with a project key only");
  await page.click("text=Sign out");
  await page.waitForURL("**/signin");
  await page.fill('input[name="project-key"]', "gw-not-a-real-key");
  await page.click('button[type="submit"]');
  assert.equal(await page.locator("p.error").innerText(), "Invalid API key: it is unknown or revoked, or its project is disabled.");

  await page.fill('input[name="project-key"]', apiKey);
  await page.click('button[type="submit"]');
  await page.waitForURL("**/dashboard");
  assert.equal(await page.locator("nav >> text=Admin").count(), 0, "a project key gets no admin page");
  assert.equal(await page.locator('select[name="project"]').count(), 0, "a project key sees only its project");
  await page.getByTestId("spent").waitFor();
  assert.notEqual(await page.getByTestId("spent").innerText(), "$0");
  await page.locator("[data-testid=recent-requests] tbody tr").first().waitFor();
  await page.goto(`${consoleUrl}/admin`);
  await page.getByText("The admin page needs the admin token").waitFor();
}

async function main() {
  mkdirSync(screenshots, { recursive: true });
  // A failure screenshot of an earlier run would otherwise sit beside this run's pages.
  rmSync(path.join(screenshots, "failure.png"), { force: true });
  const profile = mkdtempSync(path.join(tmpdir(), "console-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  try {
    await signIn(page);
    const turn = await chat(page);
    const sessionId = await continueAndBranch(page);
    await dashboard(page, turn, sessionId);
    await models(page);
    const changes = await admin(page);
    await projectKeyOnly(page);
    console.log(JSON.stringify({ ...turn, sessionId, ...changes }));
  } catch (error) {
    await shoot(page, "failure").catch(() => {});
    throw error;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
