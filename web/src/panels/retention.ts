// The retention queue: regular clients that need attention, by score, each
// with the reasons that make up its score.
import type { RetentionEntry, RetentionReason, RetentionResponse } from "../api";
import { h } from "../dom";
import { formatCount, formatMoney, formatNumber, formatPercent, moneyValue, pickCurrency } from "../format";
import { SortableTable } from "../table";

export const TERM_LABELS: Record<string, string> = {
  contact_overdue: "Contact overdue",
  payments_overdue: "Payments overdue",
  rhythm_broken: "Purchase rhythm broken",
  revenue_declining: "Revenue declining",
  client_weight: "Client weight",
};

// One line that says why the term counts, in the units a manager thinks in.
export function reasonDetail(reason: RetentionReason, currency: string): string {
  const days = Number(reason.days ?? 0);
  switch (reason.term) {
    case "contact_overdue":
      return `${days} d past due (cadence ${formatNumber(reason.thresholdDays, 0)} d)`;
    case "payments_overdue":
      return `${formatMoney(reason.amount, currency)} open, oldest ${days} d overdue`;
    case "rhythm_broken":
      return `${days} d since the last win (usual gap ≤ ${formatNumber(reason.thresholdDays, 1)} d)`;
    case "revenue_declining":
      return `${formatMoney(reason.amount, currency)} in the last 90 d vs ${formatMoney(reason.baselineAmount, currency)} before`;
    case "client_weight":
      return `${formatPercent(reason.share, 2)} of all revenue`;
    default:
      return "";
  }
}

export function reasonList(reasons: RetentionReason[] | undefined, currency: string): HTMLElement {
  return h(
    "ul",
    { class: "reasons" },
    (reasons ?? []).map((reason) =>
      h(
        "li",
        { class: `reason reason-${reason.term ?? "other"}`, "data-term": reason.term ?? "" },
        h("span", { class: "reason-name" }, TERM_LABELS[reason.term ?? ""] ?? reason.term ?? ""),
        h("span", { class: "reason-score", title: `value ${formatNumber(reason.value, 2)} × weight ${formatNumber(reason.weight, 1)}` }, `+${formatNumber(reason.contribution, 2)}`),
        h("span", { class: "reason-detail" }, reasonDetail(reason, currency)),
      ),
    ),
  );
}

export class RetentionPanel {
  private currency = "USD";
  readonly table: SortableTable<RetentionEntry>;

  constructor(clientLink: (clientId: string) => HTMLAnchorElement) {
    const currency = () => this.currency;
    const revenue = (entry: RetentionEntry) => pickCurrency(entry.revenue, currency());
    const overdue = (entry: RetentionEntry) => pickCurrency(entry.overdue, currency());
    this.table = new SortableTable<RetentionEntry>(
      [
        { id: "client", label: "Client", sortValue: (e) => e.clientId ?? "", render: (e) => clientLink(e.clientId ?? "") },
        { id: "score", label: "Score", numeric: true, title: "Sum of the reasons' contributions", sortValue: (e) => e.score ?? 0, render: (e) => formatNumber(e.score, 2) },
        { id: "reasons", label: "Reasons", sortValue: (e) => (e.reasons ?? []).length, render: (e) => reasonList(e.reasons, currency()) },
        { id: "salesperson", label: "Salesperson", sortValue: (e) => e.salesperson ?? "" },
        { id: "region", label: "Region", sortValue: (e) => e.region ?? "" },
        { id: "last-contact", label: "Last contact", sortValue: (e) => e.lastContact ?? "" },
        { id: "next-contact", label: "Contact due", sortValue: (e) => e.nextContactDue ?? "" },
        { id: "won", label: "Won deals", numeric: true, sortValue: (e) => Number(e.wonDeals ?? 0), render: (e) => formatCount(e.wonDeals) },
        { id: "revenue", label: "Revenue", numeric: true, sortValue: (e) => moneyValue(revenue(e)), render: (e) => formatMoney(revenue(e), currency()) },
        { id: "overdue", label: "Overdue", numeric: true, sortValue: (e) => moneyValue(overdue(e)), render: (e) => formatMoney(overdue(e), currency()) },
      ],
      { column: "score", descending: true },
      { caption: "Retention queue", testId: "retention-table", rowKey: (e) => e.clientId ?? "" },
    );
  }

  render(response: RetentionResponse): void {
    this.currency = response.currency || "USD";
    this.table.setRows(response.entries ?? []);
  }
}
