// Breakdown tables: the funnel's metrics per salesperson, region or product.
import type { FunnelResponse, FunnelRow } from "../api";
import { formatCount, formatDays, formatMoney, formatPercent, moneyValue, pickCurrency } from "../format";
import type { Breakdown } from "../state";
import { SortableTable, type Column } from "../table";
import { stageDeals } from "./funnel";

const KEY_LABELS: Record<Breakdown, string> = {
  salesperson: "Salesperson",
  region: "Region",
  product: "Product",
};

function columns(by: Breakdown, currency: () => string): Column<FunnelRow>[] {
  const won = (row: FunnelRow) => pickCurrency(row.metrics?.stages?.find((s) => s.stage === "WON")?.amounts, currency());
  return [
    { id: "key", label: KEY_LABELS[by], sortValue: (row) => row.key || "(none)" },
    { id: "leads", label: "Leads", numeric: true, sortValue: (row) => stageDeals(row.metrics, "LEAD"), render: (row) => formatCount(stageDeals(row.metrics, "LEAD")) },
    { id: "won", label: "Won", numeric: true, sortValue: (row) => stageDeals(row.metrics, "WON"), render: (row) => formatCount(stageDeals(row.metrics, "WON")) },
    { id: "lost", label: "Lost", numeric: true, sortValue: (row) => stageDeals(row.metrics, "LOST"), render: (row) => formatCount(stageDeals(row.metrics, "LOST")) },
    { id: "win-rate", label: "Win rate", numeric: true, sortValue: (row) => row.metrics?.winRate ?? 0, render: (row) => formatPercent(row.metrics?.winRate) },
    { id: "won-amount", label: "Won amount", numeric: true, sortValue: (row) => moneyValue(won(row)), render: (row) => formatMoney(won(row), currency()) },
    { id: "average-won", label: "Avg won deal", numeric: true, sortValue: (row) => moneyValue(row.metrics?.averageWonDeal), render: (row) => formatMoney(row.metrics?.averageWonDeal, currency()) },
    { id: "cycle", label: "Cycle", numeric: true, title: "Average days from lead to won", sortValue: (row) => row.metrics?.averageSalesCycleDays ?? 0, render: (row) => formatDays(row.metrics?.averageSalesCycleDays) },
    { id: "open", label: "Open", numeric: true, sortValue: (row) => Number(row.metrics?.openDeals ?? 0), render: (row) => formatCount(row.metrics?.openDeals) },
    { id: "pipeline", label: "Weighted pipeline", numeric: true, sortValue: (row) => moneyValue(row.metrics?.weightedPipeline), render: (row) => formatMoney(row.metrics?.weightedPipeline, currency()) },
    {
      id: "plan",
      label: "Plan",
      numeric: true,
      title: "Plan attainment: won ÷ plan (— without a plan for this slice)",
      sortValue: (row) => (moneyValue(row.metrics?.plan) > 0 ? row.metrics?.planAttainment ?? 0 : -1),
      render: (row) => (moneyValue(row.metrics?.plan) > 0 ? formatPercent(row.metrics?.planAttainment) : "—"),
    },
  ];
}

// One sortable table per breakdown, kept so each keeps its sort order.
export class BreakdownTables {
  private readonly tables = new Map<Breakdown, SortableTable<FunnelRow>>();
  private currency = "USD";

  table(by: Breakdown): SortableTable<FunnelRow> {
    let table = this.tables.get(by);
    if (!table) {
      table = new SortableTable(columns(by, () => this.currency), { column: "won-amount", descending: true }, {
        caption: `Funnel metrics by ${by}`,
        testId: `breakdown-table-${by}`,
        rowKey: (row) => row.key ?? "",
      });
      this.tables.set(by, table);
    }
    return table;
  }

  render(by: Breakdown, response: FunnelResponse): HTMLTableElement {
    this.currency = response.currency || "USD";
    const table = this.table(by);
    table.setRows(response.rows ?? []);
    return table.element;
  }
}
