// Client concentration: Pareto curve with the 80 % line, HHI against its
// thresholds and its monthly trend, the top clients, and the alerts.
import type { ConcentrationAlert, ConcentrationClient, ConcentrationResponse } from "../api";
import { COLORS, drawChart } from "../charts";
import { h, replace } from "../dom";
import { formatAmountShort, formatCount, formatMoney, formatNumber, formatPercent, moneyValue } from "../format";
import { SortableTable } from "../table";

// lokd's defaults (--hhi-moderate, --hhi-high); an alert in the answer carries
// the threshold actually in force and overrides these.
const DEFAULT_HHI_MODERATE = 1500;
const DEFAULT_HHI_HIGH = 2500;

export interface ConcentrationElements {
  summary: HTMLElement;
  hhi: HTMLElement;
  pareto: HTMLElement;
  trend: HTMLElement;
  topClients: HTMLElement;
  alerts: HTMLElement;
}

export const TOP_CLIENTS_SHOWN = 10;

export class ConcentrationPanel {
  private currency = "USD";
  private readonly table: SortableTable<ConcentrationClient>;

  constructor(
    private readonly elements: ConcentrationElements,
    clientLink: (clientId: string) => HTMLAnchorElement,
  ) {
    const currency = () => this.currency;
    this.table = new SortableTable<ConcentrationClient>(
      [
        { id: "client", label: "Client", sortValue: (c) => c.clientId ?? "", render: (c) => clientLink(c.clientId ?? "") },
        { id: "revenue", label: "Revenue", numeric: true, sortValue: (c) => moneyValue(c.revenue), render: (c) => formatMoney(c.revenue, currency()) },
        { id: "share", label: "Share", numeric: true, sortValue: (c) => c.share ?? 0, render: (c) => formatPercent(c.share) },
        { id: "overdue", label: "Overdue", numeric: true, sortValue: (c) => moneyValue(c.overdue), render: (c) => formatMoney(c.overdue, currency()) },
        {
          id: "days-late",
          label: "Days late",
          numeric: true,
          title: "Mean days overdue over the client's delayed invoices",
          sortValue: (c) => c.averageDaysLate ?? 0,
          render: (c) => (Number(c.delayedInvoices ?? 0) > 0 ? `${formatNumber(c.averageDaysLate, 1)} (${formatCount(c.delayedInvoices)} inv.)` : "—"),
        },
        {
          id: "discount",
          label: "Avg discount",
          numeric: true,
          title: "Mean discount of the latest offer of the client's won deals",
          sortValue: (c) => c.averageDiscountBp ?? 0,
          render: (c) => (Number(c.discountedWonDeals ?? 0) > 0 ? formatPercent((c.averageDiscountBp ?? 0) / 10000) : "—"),
        },
      ],
      { column: "revenue", descending: true },
      { caption: "Top clients by revenue", testId: "top-clients-table", rowKey: (c) => c.clientId ?? "" },
    );
    replace(elements.topClients, this.table.element);
  }

  render(response: ConcentrationResponse, scopeNote: string): void {
    this.currency = response.currency || "USD";
    const block = response.overall ?? {};
    const alerts = response.alerts ?? [];
    const clients = block.topClients ?? [];
    const totalClients = Number(block.clients ?? 0);
    const moderate = thresholdOf(alerts, "HHI_MODERATE") ?? DEFAULT_HHI_MODERATE;
    const high = thresholdOf(alerts, "HHI_HIGH") ?? DEFAULT_HHI_HIGH;
    const hhi = block.hhi ?? 0;

    replace(
      this.elements.summary,
      h("p", {}, `Window ${response.windowStart ?? ""} – ${response.windowEnd ?? ""} (as of ${response.asOf ?? ""}), scope ${block.scope ?? "all"}. `, scopeNote),
      h(
        "dl",
        { class: "facts" },
        fact("Revenue", formatMoney(block.revenue, this.currency)),
        fact("Clients", formatCount(totalClients)),
        fact("Top 1 / 5 / 10", `${formatPercent(block.top1Share)} / ${formatPercent(block.top5Share)} / ${formatPercent(block.top10Share)}`),
        fact("Clients for 80 %", totalClients === 0 ? "—" : `${block.paretoK80Exact === false ? "> " : ""}${formatCount(block.paretoK80)}`),
      ),
    );

    const level = hhi >= high ? "high" : hhi >= moderate ? "moderate" : "low";
    const levelText = { high: "highly concentrated", moderate: "moderately concentrated", low: "unconcentrated" }[level];
    replace(
      this.elements.hhi,
      h("div", { class: "hhi-head" },
        h("span", { class: "hhi-label", id: "hhi-label" }, "HHI"),
        h("strong", { class: "hhi-value", "data-testid": "hhi-value" }, formatNumber(hhi, 0)),
        h("span", { class: `badge badge-${level}` }, levelText),
      ),
      h("meter", { min: 0, max: 10000, low: moderate, high, optimum: 0, value: hhi, "aria-labelledby": "hhi-label", "aria-valuetext": `${formatNumber(hhi, 0)}, ${levelText}` }),
      h("p", { class: "hint" }, `0 – 10,000. Moderate from ${formatCount(moderate)}, high from ${formatCount(high)}.`),
    );

    this.drawPareto(clients, totalClients);
    this.drawTrend(response, moderate, high);

    this.table.setRows(clients.slice(0, TOP_CLIENTS_SHOWN));

    replace(
      this.elements.alerts,
      alerts.length === 0
        ? h("p", { class: "hint" }, "No alerts.")
        : h("ul", { class: "alerts" }, alerts.map((alert) => h("li", { class: `alert alert-${alert.kind === "HHI_MODERATE" ? "moderate" : "high"}` }, alertText(alert)))),
    );
  }

  private drawPareto(clients: ConcentrationClient[], totalClients: number): void {
    let cumulative = 0;
    const cumulativeShares = clients.map((client) => (cumulative += client.share ?? 0));
    const reaches80 = cumulativeShares.findIndex((share) => share >= 0.8 - 1e-12);
    const truncated = totalClients > clients.length;
    drawChart(this.elements.pareto, {
      aria: {
        enabled: true,
        label: {
          description:
            `Pareto curve of ${formatCount(totalClients)} clients' shares of revenue` +
            (reaches80 >= 0 ? `; the largest ${reaches80 + 1} make 80 %.` : "."),
        },
      },
      grid: { left: 8, right: 8, top: 28, bottom: 24, containLabel: true },
      legend: { top: 0, left: 0, itemGap: 18, itemWidth: 12, itemHeight: 8, textStyle: { color: COLORS.text } },
      tooltip: {
        trigger: "axis",
        formatter: (params: unknown) => {
          const items = params as { dataIndex: number }[];
          const index = items[0]?.dataIndex ?? 0;
          const client = clients[index];
          return `#${index + 1} ${escapeHtml(client?.clientId ?? "")}<br>share ${formatPercent(client?.share)}<br>cumulative ${formatPercent(cumulativeShares[index])}`;
        },
      },
      xAxis: {
        type: "category",
        name: truncated ? `clients by revenue (top ${clients.length} of ${totalClients})` : "clients by revenue",
        nameLocation: "middle",
        nameGap: 8,
        nameTextStyle: { color: COLORS.muted },
        data: clients.map((_, index) => String(index + 1)),
        axisLabel: { show: false },
        axisTick: { show: false },
      },
      yAxis: [
        { type: "value", min: 0, axisLabel: { color: COLORS.muted, formatter: (v: number) => formatPercent(v, 1) } },
        { type: "value", min: 0, max: 1, splitLine: { show: false }, axisLabel: { color: COLORS.muted, formatter: (v: number) => `${Math.round(v * 100)} %` } },
      ],
      series: [
        { type: "bar", name: "Client share", data: clients.map((client) => client.share ?? 0), itemStyle: { color: COLORS.lead } },
        {
          type: "line",
          name: "Cumulative share",
          yAxisIndex: 1,
          data: cumulativeShares,
          showSymbol: false,
          lineStyle: { color: COLORS.line, width: 2 },
          itemStyle: { color: COLORS.line },
          markLine: {
            silent: true,
            symbol: "none",
            lineStyle: { color: COLORS.accent, type: "dashed" },
            label: { color: COLORS.accent, formatter: "80 %", position: "insideStartTop" },
            data: [
              { yAxis: 0.8 },
              ...(reaches80 >= 0 ? [{ xAxis: String(reaches80 + 1), label: { formatter: `${reaches80 + 1} clients`, position: "end" } }] : []),
            ],
          },
        },
      ],
    });
  }

  private drawTrend(response: ConcentrationResponse, moderate: number, high: number): void {
    const trend = response.overall?.trend ?? [];
    drawChart(this.elements.trend, {
      aria: {
        enabled: true,
        label: { description: `Monthly HHI: ${trend.map((month) => `${month.month} ${formatNumber(month.hhi, 0)}`).join(", ")}.` },
      },
      grid: { left: 8, right: 8, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0, left: 0, itemGap: 18, itemWidth: 12, itemHeight: 8, textStyle: { color: COLORS.text } },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: trend.map((month) => month.month ?? ""), axisLabel: { color: COLORS.muted } },
      yAxis: [
        { type: "value", axisLabel: { color: COLORS.muted }, max: (extent: { max: number }) => Math.max(extent.max, high * 1.1) },
        { type: "value", splitLine: { show: false }, axisLabel: { color: COLORS.muted, formatter: (v: number) => formatAmountShort(v, this.currency) } },
      ],
      series: [
        {
          type: "bar",
          name: "Revenue",
          yAxisIndex: 1,
          data: trend.map((month) => moneyValue(month.revenue)),
          itemStyle: { color: "#d3ddec" },
          tooltip: { valueFormatter: (v: unknown) => formatAmountShort(Number(v), this.currency) },
        },
        {
          type: "line",
          name: "HHI",
          data: trend.map((month) => Math.round(month.hhi ?? 0)),
          lineStyle: { color: COLORS.line, width: 2 },
          itemStyle: { color: COLORS.line },
          markLine: {
            silent: true,
            symbol: "none",
            label: { position: "insideEndTop" },
            data: [
              { yAxis: moderate, lineStyle: { color: COLORS.accent, type: "dashed" }, label: { formatter: "moderate", color: COLORS.accent } },
              { yAxis: high, lineStyle: { color: COLORS.lost, type: "dashed" }, label: { formatter: "high", color: COLORS.lost } },
            ],
          },
        },
      ],
    });
  }
}

function thresholdOf(alerts: ConcentrationAlert[], kind: "HHI_MODERATE" | "HHI_HIGH"): number | undefined {
  return alerts.find((alert) => alert.kind === kind && alert.scope === "all")?.threshold;
}

function fact(label: string, value: string): HTMLElement {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}

function alertText(alert: ConcentrationAlert): string {
  const scope = alert.scope && alert.scope !== "all" ? ` (${alert.scope})` : "";
  switch (alert.kind) {
    case "CLIENT_SHARE":
      return `${alert.clientId ?? ""} has ${formatPercent(alert.value)} of revenue${scope}, at or over ${formatPercent(alert.threshold, 0)}`;
    case "HHI_HIGH":
      return `HHI ${formatNumber(alert.value, 0)}${scope}: highly concentrated (≥ ${formatCount(alert.threshold)})`;
    case "HHI_MODERATE":
      return `HHI ${formatNumber(alert.value, 0)}${scope}: moderately concentrated (≥ ${formatCount(alert.threshold)})`;
    default:
      return `${alert.kind ?? "alert"}${scope}`;
  }
}

// ECharts tooltips are HTML; client ids are data.
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
