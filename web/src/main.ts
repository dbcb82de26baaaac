// The dashboard: reads the view from the URL, fetches every panel from lokd's
// query API, and polls so that the panels follow new events without a reload.
//
// Polling: every POLL_MS the funnel is fetched; its `offsets` say how far into
// the log the answer reaches. Only when they moved are the other panels fetched
// again, and a panel is re-rendered only when its answer's text changed.
import "./styles.css";
import {
  ApiError,
  clientPath,
  getJson,
  type Answer,
  type ClientCard,
  type ConcentrationResponse,
  type FunnelResponse,
  type Offsets,
  type RetentionResponse,
  type HistoryResponse,
} from "./api";
import { byId, h, replace } from "./dom";
import { formatCount } from "./format";
import { BreakdownTables } from "./panels/breakdown";
import { renderClientCard, renderTimeline } from "./panels/client_card";
import { ConcentrationPanel } from "./panels/concentration";
import { renderFunnel, renderKpis } from "./panels/funnel";
import { RetentionPanel } from "./panels/retention";
import { BREAKDOWNS, FILTER_NAMES, readState, sameFilters, stateToSearch, type Breakdown, type ViewState } from "./state";

const POLL_MS = 5000;
const CONCENTRATION_CLIENTS = 250; // clients drawn on the Pareto curve
const RETENTION_LIMIT = 50;

let view: ViewState = readState(location.search);

// ---- links and URL -------------------------------------------------------

function hrefFor(next: ViewState): string {
  return `${location.pathname}${stateToSearch(next)}`;
}

function clientLink(clientId: string): HTMLAnchorElement {
  return h(
    "a",
    { href: hrefFor({ ...view, client: clientId }), "data-client": clientId, class: "client-link" },
    clientId,
  );
}

function navigate(next: ViewState, mode: "push" | "replace"): void {
  view = next;
  const url = hrefFor(next);
  if (mode === "push") history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// ---- panels ----------------------------------------------------------------

const panels = {
  funnel: byId("funnel-panel"),
  breakdown: byId("breakdown-panel"),
  concentration: byId("concentration-panel"),
  retention: byId("retention-panel"),
  card: byId<HTMLDialogElement>("client-card"),
};

const breakdownTables = new BreakdownTables();
const concentrationPanel = new ConcentrationPanel(
  {
    summary: byId("concentration-summary"),
    hhi: byId("hhi"),
    pareto: byId("pareto-chart"),
    trend: byId("hhi-trend-chart"),
    topClients: byId("top-clients"),
    alerts: byId("concentration-alerts"),
  },
  clientLink,
);
const retentionPanel = new RetentionPanel(clientLink);
replace(byId("retention-table"), retentionPanel.table.element);

function showError(panel: HTMLElement, error: unknown): void {
  const element = panel.querySelector<HTMLElement>(".panel-error");
  if (!element) return;
  if (error === null) {
    element.hidden = true;
    element.textContent = "";
    return;
  }
  const message =
    error instanceof ApiError ? `lokd answered ${error.status}: ${error.message}` : `Could not reach lokd (${String(error)}).`;
  if (element.textContent !== message) element.textContent = message;
  element.hidden = false;
}

// The last answer rendered per panel: the request URL and the response text.
const rendered = new Map<string, string>();

// Fetches `path` and hands a changed answer to `render`; errors are shown in
// the panel. Resolves to the answer (or undefined after an error).
async function load<T>(
  name: string,
  panel: HTMLElement,
  path: string,
  params: Record<string, string | undefined>,
  render: (answer: Answer<T>) => void,
): Promise<Answer<T> | undefined> {
  try {
    const answer = await getJson<T>(path, params);
    showError(panel, null);
    const key = `${path}?${JSON.stringify(params)}\n${answer.text}`;
    if (rendered.get(name) !== key) {
      render(answer);
      rendered.set(name, key);
    }
    panel.removeAttribute("aria-busy");
    return answer;
  } catch (error) {
    showError(panel, error);
    panel.removeAttribute("aria-busy");
    return undefined;
  }
}

function funnelParams(by?: Breakdown): Record<string, string | undefined> {
  const { from, to, salesperson, region, product, knownAt } = view.filters;
  return { from, to, salesperson, region, product, by, knownAt };
}

function loadFunnel(): Promise<Answer<FunnelResponse> | undefined> {
  return load<FunnelResponse>("funnel", panels.funnel, "/v1/funnel", funnelParams(), ({ data }) => {
    renderFunnel(data, byId("funnel-chart"), byId("funnel-table"));
    renderKpis(data, byId("kpis"));
  });
}

function loadBreakdown(): Promise<unknown> {
  const by = view.by;
  return load<FunnelResponse>("breakdown", panels.breakdown, "/v1/funnel", funnelParams(by), ({ data }) => {
    replace(byId("breakdown-table"), breakdownTables.render(by, data));
  });
}

function loadConcentration(): Promise<unknown> {
  // The read model answers one scope at a time: salesperson, else region, else product.
  const { to, salesperson, region, product } = view.filters;
  const scope: [string, string] | undefined = salesperson
    ? ["salesperson", salesperson]
    : region
      ? ["region", region]
      : product
        ? ["product", product]
        : undefined;
  const ignored = (["salesperson", "region", "product"] as const).filter(
    (name) => view.filters[name] && name !== scope?.[0],
  );
  const notes: string[] = [];
  if (view.filters.from) notes.push("“From” does not apply: concentration covers the 12 months ending with “To”.");
  if (ignored.length > 0) notes.push(`Concentration is computed for one scope at a time; ${ignored.join(" and ")} not applied.`);
  const params: Record<string, string | undefined> = {
    asOf: to,
    knownAt: view.filters.knownAt,
    limit: String(CONCENTRATION_CLIENTS),
  };
  if (scope) params[scope[0]] = scope[1];
  return load<ConcentrationResponse>("concentration", panels.concentration, "/v1/concentration", params, ({ data }) => {
    concentrationPanel.render(data, notes.join(" "));
  });
}

function loadRetention(): Promise<unknown> {
  const { to, salesperson, region, product } = view.filters;
  const params = { asOf: to, knownAt: view.filters.knownAt, salesperson, region, limit: String(RETENTION_LIMIT) };
  return load<RetentionResponse>("retention", panels.retention, "/v1/retention", params, ({ data }) => {
    retentionPanel.render(data);
    const entries = data.entries ?? [];
    replace(
      byId("retention-summary"),
      `${formatCount(entries.length)} clients need attention as of ${data.asOf ?? ""}` +
        (data.complete === false ? " (more were due than were scored: the queue may be incomplete)" : "") +
        ". Open a client for its card." +
        (product ? " The product filter does not apply to the queue (it is per client)." : "") +
        (view.filters.from ? " “From” does not apply: the queue is as of one day." : ""),
    );
  });
}

function loadCard(): Promise<unknown> {
  const clientId = view.client;
  if (!clientId) return Promise.resolve();
  return load<ClientCard>("card", panels.card, clientPath(clientId), { asOf: view.filters.to, knownAt: view.filters.knownAt }, ({ data }) => {
    renderClientCard(data, byId("card-body"), byId("card-title"));
    getJson<HistoryResponse>(`${clientPath(clientId)}/history`, { order: "desc", limit: "50" })
      .then(({ data: history }) => renderTimeline(history, data.currency || "USD"))
      .catch((error: unknown) => {
        const list = document.getElementById("card-timeline-list");
        if (list) replace(list, h("p", { class: "hint" }, `The events could not be loaded: ${error instanceof Error ? error.message : String(error)}`));
      });
  });
}

// ---- filter bar --------------------------------------------------------------

const form = byId<HTMLFormElement>("filters");

function syncForm(): void {
  for (const name of FILTER_NAMES) {
    const control = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
    if (!control) continue;
    if (control instanceof HTMLSelectElement) ensureOption(control, view.filters[name]);
    control.value = view.filters[name];
  }
  for (const tab of document.querySelectorAll<HTMLButtonElement>("[role=tab]")) {
    const selected = tab.dataset["by"] === view.by;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  byId("breakdown-table").setAttribute("aria-labelledby", `tab-${view.by}`);
}

function ensureOption(select: HTMLSelectElement, value: string): void {
  if (value && ![...select.options].some((option) => option.value === value)) {
    select.append(h("option", { value }, value));
  }
}

// Fills the selects with every value lokd knows (from unfiltered breakdowns).
async function loadFilterOptions(): Promise<void> {
  await Promise.all(
    BREAKDOWNS.map(async (by) => {
      try {
        const { data } = await getJson<FunnelResponse>("/v1/funnel", { by });
        const select = form.elements.namedItem(by) as HTMLSelectElement;
        const keys = (data.rows ?? []).map((row) => row.key ?? "").filter((key) => key !== "");
        const current = [...select.options].slice(1).map((option) => option.value);
        if (keys.join("\n") === current.join("\n")) return;
        select.replaceChildren(select.options[0] as HTMLOptionElement, ...keys.map((key) => h("option", { value: key }, key)));
        ensureOption(select, view.filters[by]);
        select.value = view.filters[by];
      } catch {
        // the panels show lokd's errors; the options stay as they were
      }
    }),
  );
}

function filtersFromForm(): ViewState["filters"] {
  const data = new FormData(form);
  const value = (name: string) => String(data.get(name) ?? "").trim();
  return {
    from: value("from"),
    to: value("to"),
    salesperson: value("salesperson"),
    region: value("region"),
    product: value("product"),
    knownAt: value("knownAt"),
  };
}

form.addEventListener("change", () => {
  const filters = filtersFromForm();
  if (sameFilters(filters, view.filters)) return;
  navigate({ ...view, filters }, "push");
  void refreshAll();
});
form.addEventListener("reset", (event) => {
  event.preventDefault();
  navigate({ ...view, filters: { from: "", to: "", salesperson: "", region: "", product: "", knownAt: "" } }, "push");
  syncForm();
  void refreshAll();
});
form.addEventListener("submit", (event) => event.preventDefault());

// ---- breakdown tabs ------------------------------------------------------------

const tabs = [...document.querySelectorAll<HTMLButtonElement>("[role=tab]")];
function selectTab(by: Breakdown, focus: boolean): void {
  if (focus) document.getElementById(`tab-${by}`)?.focus();
  if (by === view.by) return;
  navigate({ ...view, by }, "replace");
  syncForm();
  void loadBreakdown();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab.dataset["by"] as Breakdown, false));
  tab.addEventListener("keydown", (event) => {
    const index = BREAKDOWNS.indexOf(view.by);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (step === 0) return;
    event.preventDefault();
    selectTab(BREAKDOWNS[(index + step + BREAKDOWNS.length) % BREAKDOWNS.length] as Breakdown, true);
  });
}

// ---- client card -----------------------------------------------------------------

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element).closest<HTMLAnchorElement>("a[data-client]");
  if (!link) return;
  event.preventDefault();
  openCard(link.dataset["client"] ?? "", "push");
});

function openCard(clientId: string, mode: "push" | "replace"): void {
  if (!clientId) return;
  if (view.client !== clientId) {
    rendered.delete("card");
    replace(byId("card-title"), clientId);
    replace(byId("card-body"), h("p", { class: "hint" }, "Loading…"));
  }
  navigate({ ...view, client: clientId }, mode);
  if (!panels.card.open) panels.card.showModal();
  void loadCard();
}

byId("card-close").addEventListener("click", () => panels.card.close());
panels.card.addEventListener("close", () => {
  if (view.client) navigate({ ...view, client: "" }, "push");
});
// A click on the backdrop (outside the card's box) closes it too.
panels.card.addEventListener("click", (event) => {
  if (event.target === panels.card) panels.card.close();
});

window.addEventListener("popstate", () => {
  const next = readState(location.search);
  const filtersChanged = !sameFilters(next.filters, view.filters);
  const byChanged = next.by !== view.by;
  view = next;
  syncForm();
  if (filtersChanged) void refreshAll();
  else if (byChanged) void loadBreakdown();
  if (view.client) openCard(view.client, "replace");
  else if (panels.card.open) panels.card.close();
});

// ---- refresh and polling ---------------------------------------------------------

const live = byId("live");
let lastOffsets = "";
let lastChange = "";

function offsetsKey(offsets: Offsets | undefined): string {
  return JSON.stringify(Object.entries(offsets ?? {}).sort(([a], [b]) => Number(a) - Number(b)));
}

function logPosition(offsets: Offsets | undefined): number {
  return Object.values(offsets ?? {}).reduce((sum, offset) => sum + Number(offset), 0);
}

function setLive(text: string, state: "ok" | "error"): void {
  if (live.textContent !== text) live.textContent = text;
  live.dataset["state"] = state;
}

function noteOffsets(funnel: Answer<FunnelResponse> | undefined): boolean {
  if (!funnel) {
    setLive("lokd is unreachable — retrying every 5 s", "error");
    return false;
  }
  const key = offsetsKey(funnel.data.offsets);
  const moved = key !== lastOffsets;
  if (moved) {
    lastOffsets = key;
    lastChange = new Date().toLocaleTimeString();
  }
  const known = view.filters.knownAt;
  setLive(
    known
      ? `As known at the end of ${known} · ${formatCount(logPosition(funnel.data.offsets))} events received by then`
      : `Live · ${formatCount(logPosition(funnel.data.offsets))} events in the log · last change ${lastChange}`,
    "ok",
  );
  return moved;
}

let refreshing: Promise<void> | undefined;

// Everything, now (first load, a filter changed).
async function refreshAll(): Promise<void> {
  const run = async () => {
    const [funnel] = await Promise.all([loadFunnel(), loadBreakdown(), loadConcentration(), loadRetention(), loadCard()]);
    noteOffsets(funnel);
  };
  refreshing = (refreshing ?? Promise.resolve()).then(run, run);
  return refreshing;
}

// A poll: the funnel first; the rest only when the log moved.
async function poll(): Promise<void> {
  if (document.hidden) return;
  await refreshing;
  const funnel = await loadFunnel();
  if (noteOffsets(funnel)) {
    await Promise.all([loadBreakdown(), loadConcentration(), loadRetention(), loadCard(), loadFilterOptions()]);
  }
}

function schedulePoll(): void {
  window.setTimeout(() => {
    void poll().finally(schedulePoll);
  }, POLL_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) void poll();
});

// ---- start -------------------------------------------------------------------------

for (const section of [panels.funnel, panels.breakdown, panels.concentration, panels.retention]) {
  section.setAttribute("aria-busy", "true");
}
syncForm();
if (view.client) openCard(view.client, "replace");
void Promise.all([loadFilterOptions(), refreshAll()]).then(() => {
  document.body.dataset["ready"] = "true";
  schedulePoll();
});
