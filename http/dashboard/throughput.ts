/**
 * The dashboard's records-per-second panel: records in and out per vertex over the last
 * minutes, read each second from Flink's aggregated subtask metrics
 * (`…/subtasks/metrics?get=numRecordsInPerSecond,numRecordsOutPerSecond&agg=sum`) and drawn
 * with uPlot, which the page loads from this server's /assets/ (no CDN: works offline).
 * Browser code, joined into the page's script by script.ts.
 * @module
 */

/** JavaScript of the throughput chart (runs in the browser). */
export const DASHBOARD_THROUGHPUT_JS: string = String.raw`
const THROUGHPUT_POINTS_MAX = 300;
const SERIES_COLORS = ["#58a6ff", "#3fb950", "#d29922", "#bc8cff", "#3fb9a0", "#f778ba", "#ffa657", "#79c0ff"];
const tp = { plot: null, key: "", data: null, vertices: [] };

function resetThroughput() {
  if (tp.plot) tp.plot.destroy();
  tp.plot = null; tp.key = ""; tp.data = null; tp.vertices = [];
  $("throughput").replaceChildren(loading());
}

async function drawThroughput(job) {
  const box = $("throughput");
  if (typeof uPlot === "undefined") { box.replaceChildren(h("p", { class: "empty" }, "The chart library did not load (/assets/uplot.js)")); return; }
  const key = job.jid + ":" + job.vertices.map((v) => v.id).join(",");
  if (tp.key !== key) {
    if (tp.plot) tp.plot.destroy();
    tp.key = key;
    tp.vertices = job.vertices.map((v) => ({ id: v.id, name: v.name }));
    tp.data = [[], ...tp.vertices.flatMap(() => [[], []])];
    const series = [{ label: "time" }];
    tp.vertices.forEach((v, i) => {
      const color = SERIES_COLORS[i % SERIES_COLORS.length];
      series.push({ label: v.name + " in", stroke: color, width: 2, value: (u, x) => (x === null ? "-" : Math.round(x) + "/s") });
      series.push({ label: v.name + " out", stroke: color, width: 1, dash: [6, 4], value: (u, x) => (x === null ? "-" : Math.round(x) + "/s") });
    });
    box.replaceChildren();
    tp.plot = new uPlot({
      width: Math.max(300, box.clientWidth), height: 260, series,
      axes: [{ stroke: "#8b98a5", grid: { stroke: "#2a3540" } }, { stroke: "#8b98a5", grid: { stroke: "#2a3540" }, size: 70, label: "records/s", values: (u, ticks) => ticks.map((t) => (t >= 1000 ? (t / 1000).toFixed(1) + "k" : String(t))) }],
      scales: { x: { time: true } },
    }, tp.data, box);
  }
  if (job.state !== "RUNNING") return;
  const now = Date.now() / 1000;
  const rates = await Promise.all(tp.vertices.map((v) => getJson("/jobs/" + job.jid + "/vertices/" + v.id + "/subtasks/metrics?get=numRecordsInPerSecond,numRecordsOutPerSecond&agg=sum").catch(() => [])));
  tp.data[0].push(now);
  rates.forEach((metrics, i) => {
    const rate = (id) => { const m = metrics.find((x) => x.id === id); return m ? m.sum : null; };
    tp.data[1 + 2 * i].push(rate("numRecordsInPerSecond"));
    tp.data[2 + 2 * i].push(rate("numRecordsOutPerSecond"));
  });
  if (tp.data[0].length > THROUGHPUT_POINTS_MAX) for (const s of tp.data) s.shift();
  tp.plot.setData(tp.data);
  box.dataset.samples = String(tp.data[0].length);
  box.dataset.series = tp.vertices.map((v) => v.name).join("|");
  box.dataset.maxRate = String(Math.max(0, ...tp.data.slice(1).flat().filter((x) => x !== null)));
}

window.addEventListener("resize", () => { if (tp.plot) tp.plot.setSize({ width: Math.max(300, $("throughput").clientWidth), height: 260 }); });
`;
