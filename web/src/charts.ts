// ECharts, with only the parts the dashboard uses (tree-shaken), drawn as SVG.
// Every chart also has its numbers in a table or text next to it, so the chart
// itself is decoration for screen readers (aria-hidden is not used: ECharts'
// aria component writes a description of the chart into its container).
import { BarChart, LineChart } from "echarts/charts";
import {
  AriaComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, AriaComponent, GridComponent, LegendComponent, MarkLineComponent, TooltipComponent, SVGRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

// Colours with at least 4.5:1 contrast on white for text and 3:1 for marks.
export const COLORS = {
  lead: "#3b5b92",
  qualified: "#2f6f9f",
  offer: "#1f7a8c",
  won: "#1e7b34",
  lost: "#b3261e",
  line: "#6a3d9a",
  accent: "#8a5a00",
  muted: "#5c6370",
  text: "#1d2330",
};

const charts = new Map<HTMLElement, echarts.ECharts>();

const resizeObserver = new ResizeObserver((entries) => {
  for (const entry of entries) charts.get(entry.target as HTMLElement)?.resize();
});

// Draws `option` into `container`, creating the chart on first use. Replaces
// the previous option entirely (notMerge), so series that went away disappear.
export function drawChart(container: HTMLElement, option: ChartOption): void {
  let chart = charts.get(container);
  if (!chart) {
    chart = echarts.init(container, undefined, { renderer: "svg" });
    charts.set(container, chart);
    resizeObserver.observe(container);
  }
  chart.setOption(
    {
      animationDuration: 300,
      textStyle: { fontFamily: "inherit", color: COLORS.text },
      aria: { enabled: true },
      ...option,
    },
    { notMerge: true },
  );
}
