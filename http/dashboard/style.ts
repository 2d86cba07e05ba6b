/**
 * The dashboard's stylesheet, inlined into the page (no build step, no external file).
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
select, button { font:inherit; color:var(--text); background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:6px 10px; }
button { cursor:pointer; } button:hover { border-color:var(--aligned); } button:disabled { opacity:.5; cursor:default; }
.badge { padding:2px 8px; border-radius:10px; font-size:12px; font-weight:600; background:var(--line); }
.badge.RUNNING { background:#1f6f3a; } .badge.FAILED, .badge.CANCELED { background:#7d2a26; } .badge.RESTARTING { background:#7a5a12; }
main { display:grid; grid-template-columns: 1fr; gap:16px; padding:16px 20px; max-width:1400px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
section h2 { margin:0 0 8px; font-size:14px; text-transform:uppercase; letter-spacing:1px; color:var(--dim); }
svg text { fill:var(--text); font-size:12px; }
svg .dim { fill:var(--dim); }
.legend { display:flex; gap:14px; font-size:12px; color:var(--dim); margin-bottom:6px; flex-wrap:wrap; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
#failures ul { margin:0; padding-left:18px; } #failures li { margin:4px 0; }
#failures .when { color:var(--dim); font-variant-numeric:tabular-nums; margin-right:6px; }
#trigger-status { color:var(--dim); min-width:220px; }
.empty { color:var(--dim); font-style:italic; }
.stats { display:flex; gap:24px; color:var(--dim); font-size:13px; flex-wrap:wrap; } .stats b { color:var(--text); font-weight:600; }
`;
