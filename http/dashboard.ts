/** stub */
export function dashboardHtml(): string { return "<html></html>"; }
