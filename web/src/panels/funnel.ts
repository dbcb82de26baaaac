// The funnel chart with the conversion between stages, its table, and the KPIs.
import type { FunnelMetrics, FunnelResponse, StageCount, StageName } from "../api";
import { COLORS, drawChart } from "../charts";
import { h, replace } from "../dom";
import {
  formatAmount,
  formatAmountShort,
  formatCount,
  formatDays,
  formatMoney,
  formatPercent,
  minorDigits,
  moneyValue,
  pickCurrency,
} from "../format";

const STAGES: StageName[] = ["LEAD", "QUALIFIED", "OFFER", "WON", "LOST"];
const STAGE_COLORS: Record<StageName, string> = {
  LEAD: COLORS.lead,
  QUALIFIED: COLORS.qualified,
  OFFER: COLORS.offer,
  WON: COLORS.won,
  LOST: COLORS.lost,
};
const STAGE_LABELS: Record<StageName, string> = {
  LEAD: "Lead",
  QUALIFIED: "Qualified",
  OFFER: "Offer",
  WON: "Won",
  LOST: "Lost",
};

const compactCount = new Intl.NumberFormat("en-US", { notation: "compact" });

export const stageLabel = (stage: StageName | undefined): string => (stage ? STAGE_LABELS[stage] : "");

function stageOf(metrics: FunnelMetrics | undefined, stage: StageName): StageCount | undefined {
  return metrics?.stages?.find((count) => count.stage === stage);
}

export function stageDeals(metrics: FunnelMetrics | undefined, stage: StageName): number {
  return Number(stageOf(metrics, stage)?.deals ?? 0);
}

// "Qualified: 94.3 % of Lead" — the conversion into `stage` from the one before.
function conversionInto(metrics: FunnelMetrics | undefined, stage: StageName): string {
  switch (stage) {
    case "QUALIFIED":
    case "OFFER":
    case "WON": {
      const previous = STAGES[STAGES.indexOf(stage) - 1] as StageName;
      return `${formatPercent(stageOf(metrics, previous)?.conversionToNext)} of ${STAGE_LABELS[previous]}`;
    }
    case "LOST": {
      const offers = stageDeals(metrics, "OFFER");
      return `${formatPercent(offers > 0 ? stageDeals(metrics, "LOST") / offers : 0)} of Offer`;
    }
    default:
      return "";
  }
}

export function renderFunnel(response: FunnelResponse, chart: HTMLElement, table: HTMLElement): void {
  const metrics = response.metrics;
  const currency = response.currency || "USD";
  drawChart(chart, {
    aria: { enabled: true, label: { description: funnelDescription(metrics) } },
    // Room on the left for the stage names and their conversions (rich text,
    // which containLabel measures too narrowly).
    grid: { left: 128, right: 56, top: 8, bottom: 24 },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      valueFormatter: (value: unknown) => formatCount(Number(value)),
    },
    xAxis: {
      type: "value",
      axisLabel: { color: COLORS.muted, hideOverlap: true, formatter: (value: number) => compactCount.format(value) },
    },
    yAxis: {
      type: "category",
      inverse: true,
      data: STAGES.map((stage) => {
        const conversion = conversionInto(metrics, stage);
        return conversion ? `${STAGE_LABELS[stage]}\n{sub|${conversion}}` : STAGE_LABELS[stage];
      }),
      axisLabel: {
        color: COLORS.text,
        fontWeight: 600,
        lineHeight: 16,
        rich: { sub: { color: COLORS.muted, fontWeight: 400, fontSize: 11 } },
      },
      axisTick: { show: false },
    },
    series: [
      {
        type: "bar",
        name: "Deals",
        barMaxWidth: 34,
        data: STAGES.map((stage) => ({
          value: stageDeals(metrics, stage),
          itemStyle: { color: STAGE_COLORS[stage], borderRadius: [0, 3, 3, 0] },
        })),
        label: {
          show: true,
          position: "right",
          color: COLORS.text,
          formatter: (params: { value: unknown }) => formatCount(Number(params.value)),
        },
      },
    ],
  });

  replace(
    table,
    h(
      "table",
      { class: "data compact", "data-testid": "funnel-table" },
      h("caption", { class: "visually-hidden" }, "Deals by stage"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Stage"),
          h("th", { scope: "col", class: "num" }, "Deals"),
          h("th", { scope: "col", class: "num" }, "Conversion"),
          h("th", { scope: "col", class: "num" }, "Amount"),
          h("th", { scope: "col", class: "num", title: "Mean days from entering the stage to leaving it" }, "Days in stage"),
        ),
      ),
      h(
        "tbody",
        {},
        STAGES.map((stage) => {
          const count = stageOf(metrics, stage);
          const daysInStage = stage === "WON" || stage === "LOST" ? "" : formatDays(count?.averageDaysInStage);
          return h(
            "tr",
            { "data-stage": stage },
            h("th", { scope: "row" }, h("span", { class: `swatch stage-${stage.toLowerCase()}`, "aria-hidden": "true" }), STAGE_LABELS[stage]),
            h("td", { class: "num", "data-testid": `deals-${stage}` }, formatCount(count?.deals)),
            h("td", { class: "num" }, conversionInto(metrics, stage) || "—"),
            h("td", { class: "num" }, formatMoney(pickCurrency(count?.amounts, currency), currency)),
            h("td", { class: "num" }, daysInStage || "—"),
          );
        }),
      ),
    ),
  );
}

function funnelDescription(metrics: FunnelMetrics | undefined): string {
  const parts = STAGES.map((stage) => `${STAGE_LABELS[stage]} ${formatCount(stageDeals(metrics, stage))}`);
  return `Funnel: ${parts.join(", ")}. Win rate ${formatPercent(metrics?.winRate)}.`;
}

interface Kpi {
  id: string;
  label: string;
  value: string;
  detail: string;
  title: string;
}

export function renderKpis(response: FunnelResponse, container: HTMLElement): void {
  const metrics = response.metrics ?? {};
  const currency = response.currency || "USD";
  const hasPlan = moneyValue(metrics.plan) > 0;
  const velocity = (metrics.salesVelocityPerDay ?? 0) / 10 ** minorDigits(currency);
  const kpis: Kpi[] = [
    {
      id: "win-rate",
      label: "Win rate",
      value: formatPercent(metrics.winRate),
      detail: `${formatPercent(metrics.winRateByValue)} by value`,
      title: "Won ÷ (won + lost), by deal count",
    },
    {
      id: "average-won-deal",
      label: "Average won deal",
      value: formatMoney(metrics.averageWonDeal, currency),
      detail: `${formatCount(stageDeals(metrics, "WON"))} won deals`,
      title: "Won amount ÷ won deals",
    },
    {
      id: "sales-cycle",
      label: "Sales cycle",
      value: `${(metrics.averageSalesCycleDays ?? 0).toFixed(1)} days`,
      detail: "lead to won, average",
      title: "Mean days from lead_created to deal_won over won deals",
    },
    {
      id: "velocity",
      label: "Sales velocity",
      value: formatAmountShort(velocity, currency),
      detail: `per day (${formatAmount(velocity, currency)})`,
      title: "Open deals × win rate × average won deal ÷ sales cycle",
    },
    {
      id: "weighted-pipeline",
      label: "Weighted pipeline",
      value: formatMoney(metrics.weightedPipeline, currency),
      detail: `${formatCount(metrics.openDeals)} open deals`,
      title: "Σ open deals' latest offer × their stage's win probability",
    },
    {
      id: "plan-attainment",
      label: "Plan attainment",
      value: hasPlan ? formatPercent(metrics.planAttainment) : "No plan",
      detail: hasPlan
        ? `${formatMoney(metrics.planActual, currency)} of ${formatMoney(metrics.plan, currency)}`
        : "no target_set for this slice",
      title: "Won in the plan's months ÷ the plan in force",
    },
  ];
  replace(
    container,
    kpis.map((kpi) =>
      h(
        "div",
        { class: "kpi", "data-testid": `kpi-${kpi.id}`, title: kpi.title },
        h("dt", {}, kpi.label),
        h("dd", { class: "kpi-value" }, kpi.value),
        h("dd", { class: "kpi-detail" }, kpi.detail),
      ),
    ),
  );
}
