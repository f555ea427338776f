"use strict";
// Draws a chart of clerk's (src/analytics/chart.rs: {title, spec, columns, rows, csv}) into a
// container: the Vega-Lite spec through vega-embed as SVG when the chart scripts are installed,
// the rows behind it one click away, and the rows as a CSV download. Used by the staff console
// and the reports page.
window.clerkCharts = {
  draw(container, chart) {
    const figure = document.createElement("figure");
    figure.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = chart.title;
    const view = document.createElement("div");
    view.className = "chart-view";
    figure.append(caption, view);
    if (typeof window.vegaEmbed === "function") {
      window.vegaEmbed(view, chart.spec, { actions: false, renderer: "svg", defaultStyle: false, tooltip: false })
        .catch((err) => { view.textContent = `The chart could not be drawn (${err.message}); its rows are below.`; });
    } else {
      view.textContent = "Charts are not installed on this server (scripts/fetch-charts); the rows are below.";
    }
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `Rows (${chart.rows.length})`;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const column of chart.columns) {
      const th = document.createElement("th");
      th.textContent = column;
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of chart.rows) {
      const tr = body.insertRow();
      for (const value of row) tr.insertCell().textContent = value === null ? "" : String(value);
    }
    details.append(summary, table);
    const csv = document.createElement("a");
    csv.className = "csv";
    csv.textContent = "Download CSV";
    csv.download = (chart.title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "chart") + ".csv";
    csv.href = "data:text/csv;charset=utf-8," + encodeURIComponent(chart.csv);
    figure.append(details, csv);
    container.append(figure);
    return figure;
  },
};
