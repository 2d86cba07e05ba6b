/**
 * The dashboard's stylesheet, inlined into the page (no build step). Labels never clip:
 * nothing has a fixed width, cells do not wrap, and wide tables scroll inside their panel.
 * @module
 */

/** CSS of the dashboard page. */
export const DASHBOARD_CSS = `
:root { --bg:#0f1419; --panel:#182028; --line:#2a3540; --text:#d8dee4; --dim:#8b98a5;
  --ok:#3fb950; --low:#d29922; --high:#f85149; --aligned:#58a6ff; --unaligned:#bc8cff; --savepoint:#3fb9a0; --failed:#f85149; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; gap:16px; align-items:center; padding:12px 20px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
header .spacer { flex:1; }
.actions { display:flex; gap:10px; align-items:center; padding:10px 20px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
.actions label, header label { color:var(--dim); white-space:nowrap; }
select, button, input { font:inherit; color:var(--text); background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:6px 10px; }
button { cursor:pointer; white-space:nowrap; } button:hover { border-color:var(--aligned); } button:disabled { opacity:.5; cursor:default; }
button.danger:hover { border-color:var(--high); }
.badge { padding:2px 8px; border-radius:10px; font-size:12px; font-weight:600; background:var(--line); white-space:nowrap; }
.badge.RUNNING { background:#1f6f3a; } .badge.FAILED, .badge.CANCELED { background:#7d2a26; } .badge.RESTARTING { background:#7a5a12; }
main { display:grid; grid-template-columns: minmax(0, 1fr); gap:16px; padding:16px 20px; max-width:1400px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; min-width:0; }
section h2 { margin:0 0 8px; font-size:14px; text-transform:uppercase; letter-spacing:1px; color:var(--dim); }
section h3 { margin:16px 0 6px; font-size:13px; color:var(--dim); font-weight:600; }
svg text { fill:var(--text); font-size:12px; }
svg .dim { fill:var(--dim); }
.scroll { overflow-x:auto; }
.legend { display:flex; gap:14px; font-size:12px; color:var(--dim); margin-bottom:6px; flex-wrap:wrap; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
#failures ul { margin:0; padding-left:18px; } #failures li { margin:4px 0; }
#failures .when { color:var(--dim); font-variant-numeric:tabular-nums; margin-right:6px; }
#trigger-status { color:var(--dim); }
.empty, .loading { color:var(--dim); font-style:italic; margin:4px 0; }
.loading::before { content:""; display:inline-block; width:10px; height:10px; margin-right:8px; border:2px solid var(--dim); border-top-color:transparent; border-radius:50%; animation:spin 1s linear infinite; vertical-align:-1px; }
@keyframes spin { to { transform:rotate(360deg); } }
.stats { display:flex; gap:24px; color:var(--dim); font-size:13px; flex-wrap:wrap; } .stats b { color:var(--text); font-weight:600; }
.tabs { display:flex; gap:4px; margin-bottom:10px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
.tabs button { border:none; border-bottom:2px solid transparent; border-radius:0; background:none; color:var(--dim); }
.tabs button[aria-selected="true"] { color:var(--text); border-bottom-color:var(--aligned); }
table { border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:4px 7px 4px 0; white-space:nowrap; border-bottom:1px solid var(--line); }
/* Column headings wrap between words (never inside one), so wide tables fit their panel. */
thead th { color:var(--dim); font-weight:600; white-space:normal; vertical-align:bottom; min-width:4em; }
tbody th { color:var(--dim); font-weight:600; }
td.num, th.num { text-align:right; }
tr.drill > td { padding:6px 0 10px 16px; background:#121a21; }
tr.drill table { margin-top:6px; }
button.expand { padding:1px 6px; font-size:12px; }
dl.kv { display:grid; grid-template-columns:max-content minmax(0, 1fr); gap:4px 16px; margin:0 0 12px; }
dl.kv dt { color:var(--dim); white-space:nowrap; } dl.kv dd { margin:0; overflow-wrap:anywhere; }
.paths { margin:0; padding-left:18px; } .paths li { overflow-wrap:anywhere; }
.chart { min-height:60px; }
.uplot, .u-legend { color:var(--text); font-size:12px; }
.u-legend .u-series th { white-space:nowrap; }
`;
