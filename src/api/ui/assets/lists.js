// The sessions and batches page (/ui): Livy's columns plus age and last activity, a filter over
// every column, sorting by any column, refreshed in place.

import { agoCell, appIdCell, crumbs, getJson, h, logLinks, poll, replace, stateBadge, uiLink } from "./common.js";

const SESSION_COLUMNS = [
  { key: "id", title: "Session Id", cell: (r) => uiLink(`session/${r.id}`, String(r.id)), sort: (r) => r.id },
  { key: "appId", title: "Application Id", cell: appIdCell },
  { key: "name", title: "Name" },
  { key: "owner", title: "Owner" },
  { key: "proxyUser", title: "Proxy User" },
  { key: "kind", title: "Session Kind" },
  { key: "state", title: "State", cell: (r) => stateBadge(r.state) },
  { key: "logs", title: "Logs", cell: (r) => logLinks(r, "session"), sort: null },
  { key: "createdAt", title: "Age", cell: (r) => agoCell(r.createdAt), sort: (r) => -r.createdAt },
  { key: "lastActivity", title: "Last Activity", cell: (r) => agoCell(r.lastActivity), sort: (r) => -(r.lastActivity || 0) },
];

const BATCH_COLUMNS = [
  { key: "id", title: "Batch Id", sort: (r) => r.id },
  { key: "appId", title: "Application Id", cell: appIdCell },
  { key: "name", title: "Name" },
  { key: "owner", title: "Owner" },
  { key: "proxyUser", title: "Proxy User" },
  { key: "state", title: "State", cell: (r) => stateBadge(r.state) },
  { key: "logs", title: "Logs", cell: (r) => logLinks(r, "batch"), sort: null },
  { key: "createdAt", title: "Age", cell: (r) => agoCell(r.createdAt), sort: (r) => -r.createdAt },
  { key: "lastActivity", title: "Finished", cell: (r) => agoCell(r.lastActivity), sort: (r) => -(r.lastActivity || 0) },
];

// The warm pool's profiles (livy.server.session.pool.*), shown only when a pool is configured.
const POOL_COLUMNS = [
  { key: "profile", title: "Pool Profile" },
  { key: "kind", title: "Kind" },
  { key: "size", title: "Size", sort: (r) => r.size },
  { key: "ready", title: "Ready", sort: (r) => r.ready },
  { key: "inUse", title: "In Use", sort: (r) => r.inUse },
  { key: "refilling", title: "Refilling", sort: (r) => r.refilling },
  { key: "failures", title: "Failures", sort: (r) => r.failures },
  { key: "handedOut", title: "Handed Out", sort: (r) => r.handedOut },
  { key: "recycled", title: "Recycled", sort: (r) => r.recycled },
];

/** One sortable, filterable table. */
class Table {
  constructor(id, title, columns, empty) {
    this.columns = columns;
    this.rows = [];
    this.sortKey = "id";
    this.descending = true;
    this.filter = "";
    this.empty = empty;
    this.body = h("tbody");
    this.heads = columns.map((c) => this.header(c));
    this.count = h("span", { class: "count" });
    this.table = h("table", { id, class: "grid" }, h("thead", {}, h("tr", {}, this.heads)), this.body);
    this.section = h("section", {}, h("h2", {}, title, " ", this.count), this.table);
  }

  header(column) {
    if (column.sort === null) return h("th", { scope: "col" }, column.title);
    const button = h("button", { type: "button", class: "sort", "data-key": column.key }, column.title);
    button.addEventListener("click", () => {
      if (this.sortKey === column.key) this.descending = !this.descending;
      else [this.sortKey, this.descending] = [column.key, false];
      this.render();
    });
    return h("th", { scope: "col" }, button);
  }

  sortValue(column, row) {
    if (column.sort) return column.sort(row);
    const v = row[column.key];
    return v === null || v === undefined ? "" : String(v).toLowerCase();
  }

  text(row) {
    return this.columns
      .filter((c) => c.sort !== null)
      .map((c) => (row[c.key] === null || row[c.key] === undefined ? "" : String(row[c.key])))
      .join("\u0000")
      .toLowerCase();
  }

  render() {
    const column = this.columns.find((c) => c.key === this.sortKey);
    const needle = this.filter.trim().toLowerCase();
    const shown = this.rows.filter((r) => !needle || this.text(r).includes(needle));
    shown.sort((a, b) => {
      const [x, y] = [this.sortValue(column, a), this.sortValue(column, b)];
      const order = x < y ? -1 : x > y ? 1 : 0;
      return this.descending ? -order : order;
    });
    for (const th of this.heads) {
      const key = th.querySelector("button")?.dataset.key;
      if (key === this.sortKey) th.setAttribute("aria-sort", this.descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    const trs = shown.map((r) =>
      h("tr", { "data-id": r.id }, this.columns.map((c) => h("td", { "data-col": c.key }, c.cell ? c.cell(r) : r[c.key] ?? ""))),
    );
    if (trs.length === 0) {
      const text = this.rows.length ? "Nothing matches the filter." : this.empty;
      trs.push(h("tr", { class: "empty" }, h("td", { colspan: this.columns.length }, text)));
    }
    replace(this.body, trs);
    this.count.textContent = needle ? `(${shown.length} of ${this.rows.length})` : `(${this.rows.length})`;
  }
}

export function start(main) {
  crumbs(["Sessions"]);
  const sessions = new Table("sessions-table", "Interactive Sessions", SESSION_COLUMNS, "No interactive sessions.");
  const batches = new Table("batches-table", "Batches", BATCH_COLUMNS, "No batches.");
  const filter = h("input", { id: "filter", type: "search", placeholder: "Filter by any column", "aria-label": "Filter" });
  filter.addEventListener("input", () => {
    sessions.filter = batches.filter = filter.value;
    sessions.render();
    batches.render();
  });
  const pool = new Table("pool-table", "Warm Pool", POOL_COLUMNS, "No pool profile.");
  [pool.sortKey, pool.descending] = ["profile", false];
  pool.section.hidden = true;
  replace(main, h("div", { class: "tools" }, filter), sessions.section, batches.section, pool.section);

  let last = "";
  poll(async () => {
    const [s, b, p] = await Promise.all([getJson("/ui/api/sessions"), getJson("/ui/api/batches"), getJson("/ui/api/pool")]);
    sessions.rows = s.sessions;
    batches.rows = b.batches;
    pool.rows = (p.pool || []).map((r) => ({ ...r, id: r.profile }));
    pool.section.hidden = !p.pool;
    // Ages move on every tick, so the tables are drawn each time; "changed" drives the backoff.
    sessions.render();
    batches.render();
    pool.render();
    const now = JSON.stringify([s, b, p]);
    const changed = now !== last;
    last = now;
    return changed;
  }, { min: 2000, max: 15000 });
}
