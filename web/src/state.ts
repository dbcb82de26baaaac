// The view's state lives in the URL so a view can be shared:
//   /?from=2017-01-01&to=2017-12-31&salesperson=...&region=...&product=...&by=region&client=Initech
// from/to/salesperson/region/product filter every panel; knownAt shows every
// panel as the dashboard would have shown it at the end of that day (only the
// events lokd had received by then); `by` is the breakdown tab; `client`
// opens that client's card.

export const FILTER_NAMES = ["from", "to", "salesperson", "region", "product", "knownAt"] as const;
export type FilterName = (typeof FILTER_NAMES)[number];
export type Filters = Record<FilterName, string>;

export const BREAKDOWNS = ["salesperson", "region", "product"] as const;
export type Breakdown = (typeof BREAKDOWNS)[number];

export interface ViewState {
  filters: Filters;
  by: Breakdown;
  client: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readState(search: string): ViewState {
  const params = new URLSearchParams(search);
  const value = (name: string): string => params.get(name)?.trim() ?? "";
  const date = (name: string): string => (DATE.test(value(name)) ? value(name) : "");
  const by = value("by");
  return {
    filters: {
      from: date("from"),
      to: date("to"),
      salesperson: value("salesperson"),
      region: value("region"),
      product: value("product"),
      knownAt: date("knownAt"),
    },
    by: (BREAKDOWNS as readonly string[]).includes(by) ? (by as Breakdown) : "salesperson",
    client: value("client"),
  };
}

export function stateToSearch(state: ViewState): string {
  const params = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    if (state.filters[name]) params.set(name, state.filters[name]);
  }
  if (state.by !== "salesperson") params.set("by", state.by);
  if (state.client) params.set("client", state.client);
  const search = params.toString();
  return search ? `?${search}` : "";
}

export const sameFilters = (a: Filters, b: Filters): boolean =>
  FILTER_NAMES.every((name) => a[name] === b[name]);
