// A sortable table. Each column header is a button (keyboard: Tab, Enter or
// Space) that sorts by that column, descending first for numbers; the header
// carries aria-sort. The sort survives re-renders with new data.
import { h } from "./dom";

export interface Column<Row> {
  id: string;
  label: string;
  numeric?: boolean;
  // The value sorted on.
  sortValue: (row: Row) => number | string;
  // What the cell shows; defaults to the sort value.
  render?: (row: Row) => Node | string;
  // A short explanation shown as the header's title.
  title?: string;
}

export interface SortState {
  column: string;
  descending: boolean;
}

export class SortableTable<Row> {
  readonly element: HTMLTableElement;
  private rows: Row[] = [];
  private readonly body: HTMLTableSectionElement;
  private readonly headers = new Map<string, HTMLTableCellElement>();

  constructor(
    private readonly columns: Column<Row>[],
    private sort: SortState,
    options: { caption: string; testId: string; rowKey: (row: Row) => string },
  ) {
    this.rowKey = options.rowKey;
    const headRow = h("tr");
    for (const column of columns) {
      const button = h(
        "button",
        { type: "button", class: "sort", title: column.title, onclick: () => this.sortBy(column) },
        column.label,
        h("span", { class: "sort-mark", "aria-hidden": "true" }),
      );
      const header = h("th", { scope: "col", class: column.numeric ? "num" : undefined }, button);
      this.headers.set(column.id, header);
      headRow.appendChild(header);
    }
    this.body = h("tbody");
    this.element = h(
      "table",
      { class: "data", "data-testid": options.testId },
      h("caption", { class: "visually-hidden" }, options.caption),
      h("thead", {}, headRow),
      this.body,
    );
    this.markSort();
  }

  private readonly rowKey: (row: Row) => string;

  setRows(rows: Row[]): void {
    this.rows = rows;
    this.renderBody();
  }

  private sortBy(column: Column<Row>): void {
    this.sort =
      this.sort.column === column.id
        ? { column: column.id, descending: !this.sort.descending }
        : { column: column.id, descending: column.numeric === true };
    this.markSort();
    this.renderBody();
  }

  private markSort(): void {
    for (const [id, header] of this.headers) {
      const sorted = id === this.sort.column;
      if (sorted) header.setAttribute("aria-sort", this.sort.descending ? "descending" : "ascending");
      else header.removeAttribute("aria-sort");
      const mark = header.querySelector(".sort-mark");
      if (mark) mark.textContent = sorted ? (this.sort.descending ? " ▼" : " ▲") : "";
    }
  }

  private renderBody(): void {
    const column = this.columns.find((candidate) => candidate.id === this.sort.column) ?? this.columns[0];
    if (!column) return;
    const direction = this.sort.descending ? -1 : 1;
    const sorted = [...this.rows].sort((left, right) => {
      const a = column.sortValue(left);
      const b = column.sortValue(right);
      const order =
        typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
      return order !== 0 ? order * direction : this.rowKey(left).localeCompare(this.rowKey(right));
    });
    this.body.replaceChildren(
      ...sorted.map((row) =>
        h(
          "tr",
          { "data-key": this.rowKey(row) },
          this.columns.map((col, index) => {
            const content = col.render ? col.render(row) : String(col.sortValue(row));
            const attributes = { class: col.numeric ? "num" : undefined };
            return index === 0 ? h("th", { ...attributes, scope: "row" }, content) : h("td", attributes, content);
          }),
        ),
      ),
    );
  }
}
