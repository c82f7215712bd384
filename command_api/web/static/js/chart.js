// Tickets sold per minute over the last hour, drawn by uPlot (vendored, global `uPlot`),
// with the same numbers in a table for people who cannot see the chart.
import { fill, h, table } from "./dom.js";
import { clock, money } from "./format.js";

const MINUTES = 60;

/** The last hour, minute by minute, with zeros where nothing sold: [seconds[], tickets[]]. */
function lastHour(salesPerMinute) {
  const sold = new Map(salesPerMinute.map((m) => [Math.floor(Date.parse(m.minute) / 60000), m.tickets]));
  const now = Math.floor(Date.now() / 60000);
  const xs = [];
  const ys = [];
  for (let minute = now - MINUTES + 1; minute <= now; minute += 1) {
    xs.push(minute * 60);
    ys.push(sold.get(minute) ?? 0);
  }
  return [xs, ys];
}

/** A chart that redraws from an insights document's sales_per_minute. */
export function salesChart() {
  const canvasBox = h("div", { class: "chart", role: "img" });
  const summary = h("p", { class: "muted" });
  const tableBox = h("div");
  const figure = h("figure", { class: "sales-chart" },
    h("figcaption", {}, "Tickets sold per minute, last hour"),
    canvasBox, summary,
    h("details", {}, h("summary", {}, "The sales per minute as a table"), tableBox));
  let plot = null;
  let latest = [];
  let latestCurrency = null;

  const width = () => Math.max(240, canvasBox.clientWidth || figure.clientWidth || 600);
  const draw = (salesPerMinute, currency) => {
    latest = salesPerMinute;
    latestCurrency = currency;
    const data = lastHour(salesPerMinute);
    const total = data[1].reduce((sum, n) => sum + n, 0);
    figure.dataset.ticketsLastHour = String(total);
    const label = `${total} ticket${total === 1 ? "" : "s"} sold in the last hour`;
    canvasBox.setAttribute("aria-label", label);
    summary.textContent = `${label}.`;
    const rows = [...salesPerMinute].reverse().slice(0, MINUTES).map((m) => h("tr", {},
      h("th", { scope: "row" }, h("time", { datetime: m.minute }, clock(new Date(m.minute)))),
      h("td", { class: "number" }, String(m.tickets)),
      h("td", { class: "number" }, money(m.revenue, currency))));
    fill(tableBox, rows.length ? table(null, ["Minute", ["Tickets", "number"], ["Revenue", "number"]], rows) : h("p", {}, "No sales yet."));
    if (typeof uPlot === "undefined") return;
    if (!plot) {
      plot = new uPlot({
        width: width(),
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: (_u, min, max) => [min - 60, max + 60] }, y: { range: (_u, _min, max) => [0, Math.max(4, max + 1)] } },
        axes: [{}, { label: "Tickets", size: 50 }],
        series: [{}, {
          label: "Tickets",
          stroke: "#14532d",
          fill: "rgba(20, 83, 45, 0.25)",
          paths: uPlot.paths.bars({ size: [0.8, 20] }),
          points: { show: false },
        }],
      }, data, canvasBox);
    } else {
      plot.setData(data);
    }
  };
  const resize = () => plot?.setSize({ width: width(), height: 200 });
  addEventListener("resize", resize);
  // The window slides on even without sales.
  const timer = setInterval(() => draw(latest, latestCurrency), 30_000);
  const stop = () => {
    clearInterval(timer);
    removeEventListener("resize", resize);
    plot?.destroy();
  };
  return { figure, draw, stop };
}
