// The client card: revenue, deals, payments, contacts and a timeline, in a
// modal dialog (Esc or the close button closes it).
import type { ClientCard, HistoryEvent, HistoryResponse, RetentionInvoiceView } from "../api";
import { h, replace } from "../dom";
import { formatCount, formatMoney, formatNumber, formatPercent, formatTimestamp, pickCurrency } from "../format";
import { stageLabel } from "./funnel";
import { reasonList } from "./retention";

export function renderClientCard(card: ClientCard, body: HTMLElement, title: HTMLElement): void {
  const currency = card.currency || "USD";
  const retention = card.retention ?? {};
  const concentration = card.concentration?.client ?? {};
  const invoices = retention.invoices ?? [];

  replace(title, card.clientId ?? "");
  replace(
    body,
    h(
      "p",
      { class: "card-meta" },
      [retention.salesperson && `Salesperson ${retention.salesperson}`, retention.region && `region ${retention.region}`, `as of ${card.asOf ?? ""}`]
        .filter(Boolean)
        .join(" · "),
    ),
    h(
      "section",
      { "aria-labelledby": "card-revenue" },
      h("h3", { id: "card-revenue" }, "Revenue"),
      h(
        "dl",
        { class: "facts" },
        fact("Last 12 months", formatMoney(concentration.revenue, currency), `${card.concentration?.windowStart ?? ""} – ${card.concentration?.windowEnd ?? ""}`),
        fact("Share of all revenue", formatPercent(concentration.share, 2)),
        fact("Won up to as-of", formatMoney(pickCurrency(retention.revenue, currency), currency), `${formatCount(retention.wonDeals)} won deals`),
        fact("Average discount", Number(concentration.discountedWonDeals ?? 0) > 0 ? formatPercent((concentration.averageDiscountBp ?? 0) / 10000) : "—"),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "card-deals" },
      h("h3", { id: "card-deals" }, "Deals by furthest stage"),
      h(
        "dl",
        { class: "facts", "data-testid": "card-deals" },
        (card.dealsByStage ?? []).map((stage) => fact(stageLabel(stage.stage), formatCount(stage.deals))),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "card-attention" },
      h("h3", { id: "card-attention" }, "Retention"),
      h(
        "p",
        {},
        !retention.isRegular
          ? "Not a regular client (fewer won deals than the retention rules require)."
          : retention.needsAttention
            ? `Needs attention — score ${formatNumber(retention.score, 2)}:`
            : "Regular client; nothing needs attention.",
      ),
      retention.needsAttention ? reasonList(retention.reasons, currency) : null,
    ),
    h(
      "section",
      { "aria-labelledby": "card-payments" },
      h("h3", { id: "card-payments" }, "Payments"),
      h(
        "dl",
        { class: "facts" },
        fact("Overdue", formatMoney(pickCurrency(retention.overdue, currency) ?? concentration.overdue, currency)),
        fact("Average days late", Number(concentration.delayedInvoices ?? 0) > 0 ? formatNumber(concentration.averageDaysLate, 1) : "—", `${formatCount(concentration.delayedInvoices)} delayed invoices`),
      ),
      invoices.length === 0 ? h("p", { class: "hint" }, "No invoices recorded.") : invoiceTable(invoices, currency),
    ),
    h(
      "section",
      { "aria-labelledby": "card-contacts" },
      h("h3", { id: "card-contacts" }, "Contacts"),
      h(
        "dl",
        { class: "facts" },
        fact("Contacts", formatCount(retention.contactsCount)),
        fact("Last contact", retention.lastContact || "—", "any contact or deal event"),
        fact("Next contact due", retention.nextContactDue || "—"),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "card-timeline" },
      h("h3", { id: "card-timeline" }, "Timeline"),
      h("p", { class: "hint" }, "The client's events as the log holds them, newest first, with where each sits in the log."),
      h("div", { id: "card-timeline-list", "data-testid": "card-timeline" }, h("p", { class: "hint" }, "Loading the events…")),
    ),
  );
}

const PAYLOADS = [
  "lead_created", "leadCreated", "lead_qualified", "leadQualified", "offer_sent", "offerSent", "deal_won", "dealWon",
  "deal_lost", "dealLost", "invoice_issued", "invoiceIssued", "payment_received", "paymentReceived",
  "payment_delayed", "paymentDelayed", "client_contacted", "clientContacted", "target_set", "targetSet",
];

// A one-line description of an event: its payload name and the facts that matter.
function describe(entry: HistoryEvent, currency: string): string {
  const event = entry.event ?? {};
  const payload = PAYLOADS.find((name) => name in event) ?? "event";
  const readableName = payload.replace(/([A-Z])/g, "_$1").toLowerCase().replace(/_/g, " ");
  const body = (event[payload] ?? {}) as { amount?: { minor?: string; currency?: string }; outstanding?: { minor?: string; currency?: string }; reason?: string; salesperson?: string; channel?: string };
  const money = body.amount ?? body.outstanding;
  const parts = [readableName];
  if (event.dealId) parts.push(`deal ${event.dealId}`);
  if (money) parts.push(formatMoney(money, money.currency ?? currency));
  if (body.reason) parts.push(`(${body.reason})`);
  if (body.salesperson) parts.push(`by ${body.salesperson}`);
  return parts.join(" · ");
}

// Fills the card's timeline with the client's history, newest first.
export function renderTimeline(history: HistoryResponse, currency: string): void {
  const container = document.getElementById("card-timeline-list");
  if (!container) return;
  const events = history.events ?? [];
  if (events.length === 0) {
    replace(container, h("p", { class: "hint", "data-testid": "card-timeline-empty" }, "No events recorded for this client."));
    return;
  }
  replace(
    container,
    h(
      "ol",
      { class: "timeline" },
      events.map((entry) =>
        h(
          "li",
          {},
          h("time", { datetime: entry.event?.occurredAt ?? "" }, formatTimestamp(entry.event?.occurredAt)),
          " ",
          describe(entry, currency),
          h("span", { class: "fact-detail" }, ` ${entry.event?.source ?? ""} · ${entry.event?.eventId ?? ""} · log ${entry.partition ?? 0}/${entry.offset ?? "0"}`),
        ),
      ),
    ),
    history.nextCursor ? h("p", { class: "hint" }, `Showing the newest ${events.length} events.`) : null,
  );
}

function fact(label: string, value: string, detail?: string): HTMLElement {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value, detail ? h("span", { class: "fact-detail" }, detail) : null));
}

function invoiceTable(invoices: RetentionInvoiceView[], currency: string): HTMLElement {
  return h(
    "div",
    { class: "table-scroll", tabindex: 0, role: "region", "aria-label": "Invoices" },
    h(
      "table",
      { class: "data compact" },
      h("caption", { class: "visually-hidden" }, "Invoices"),
      h("thead", {}, h("tr", {}, ["Invoice", "Amount", "Due", "Status", "Outstanding"].map((label, index) => h("th", { scope: "col", class: index === 1 || index === 4 ? "num" : undefined }, label)))),
      h(
        "tbody",
        {},
        invoices.map((invoice) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, invoice.invoiceId ?? ""),
            h("td", { class: "num" }, formatMoney(invoice.amount, currency)),
            h("td", {}, invoice.dueDate ?? ""),
            h("td", {}, h("span", { class: `badge badge-${invoice.status === "overdue" ? "high" : invoice.status === "paid" ? "low" : "neutral"}` }, invoice.status === "overdue" ? `overdue ${formatCount(invoice.daysOverdue)} d` : invoice.status ?? "")),
            h("td", { class: "num" }, invoice.status === "overdue" ? formatMoney(invoice.outstanding, currency) : "—"),
          ),
        ),
      ),
    ),
  );
}
