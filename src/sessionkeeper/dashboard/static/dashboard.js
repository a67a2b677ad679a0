// The overview's charts, drawn with the vendored Chart.js from /admin/charts.json.
// Loaded with defer, so the document is parsed; no inline script (the page's CSP forbids it).
(function () {
  "use strict";
  var section = document.getElementById("charts");
  if (!section || typeof window.Chart === "undefined") { return; }
  // Colours that keep 3:1 against white for non-text contrast.
  var palette = ["#0b57d0", "#c2410c", "#146c2e", "#7b2cbf", "#a4161a", "#00639b", "#6b4e00"];
  window.Chart.defaults.animation = false;
  window.Chart.defaults.color = "#1a1a1a";
  window.Chart.defaults.maintainAspectRatio = false;

  // The chart's numbers as a table under "Data", for screen readers and for reading exactly.
  function table(canvas, config) {
    var details = document.createElement("details");
    var summary = document.createElement("summary");
    summary.textContent = "Data";
    details.appendChild(summary);
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var tbl = document.createElement("table");
    var head = tbl.createTHead().insertRow();
    var corner = document.createElement("th");
    corner.scope = "col";
    corner.textContent = config.xTitle;
    head.appendChild(corner);
    config.data.datasets.forEach(function (set) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = set.label;
      head.appendChild(th);
    });
    var body = tbl.createTBody();
    config.data.labels.forEach(function (label, i) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.appendChild(th);
      config.data.datasets.forEach(function (set) { row.insertCell().textContent = String(set.data[i]); });
    });
    wrap.appendChild(tbl);
    details.appendChild(wrap);
    canvas.parentElement.after(details);
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) {
      new window.Chart(canvas, config);
      table(canvas, config);
    }
  }

  function hourLabel(ms) {
    return new Date(ms).toISOString().slice(11, 16);
  }

  fetch(section.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) {
      if (!data) { return; }
      draw("chart-daily", {
        xTitle: "day",
        type: "line",
        data: {
          labels: data.days,
          datasets: [
            { label: "sessions started", data: data.sessions_per_day, borderColor: palette[0], backgroundColor: palette[0] },
            { label: "active users", data: data.users_per_day, borderColor: palette[1], backgroundColor: palette[1] }
          ]
        },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
      draw("chart-durations", {
        xTitle: "duration",
        type: "bar",
        data: { labels: data.duration_labels, datasets: [{ label: "sessions", data: data.duration_counts, backgroundColor: palette[2] }] },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
      var kinds = Object.keys(data.active_by_kind).sort();
      draw("chart-hourly", {
        xTitle: "hour (UTC)",
        type: "bar",
        data: {
          labels: data.hours.map(hourLabel),
          datasets: kinds.map(function (kind, i) {
            return { label: kind, data: data.active_by_kind[kind], backgroundColor: palette[i % palette.length] };
          })
        },
        options: { scales: { x: { stacked: true, title: { display: true, text: "hour (UTC)" } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
      });
    });
})();
