// Charts of the operations page: each [data-chart] element names a JSON series endpoint
// ({x: [unix seconds], series: {name: [values]}}) and gets a uPlot chart that follows its width.
(function () {
  "use strict";
  var palette = ["#1d5fd1", "#d1491d", "#2f9e5b", "#8a3ffc", "#b8860b"];

  function draw(el, data) {
    var names = Object.keys(data.series).sort();
    var series = [{}];
    var columns = [data.x];
    names.forEach(function (name, i) {
      series.push({ label: name, stroke: palette[i % palette.length], width: 2 });
      columns.push(data.series[name]);
    });
    el.textContent = "";
    if (names.length === 0) {
      el.textContent = "No data yet.";
      return;
    }
    var opts = {
      width: Math.max(el.clientWidth, 200),
      height: 240,
      series: series,
      axes: [{}, { size: 60 }],
    };
    var plot = new uPlot(opts, columns, el);
    new ResizeObserver(function () {
      plot.setSize({ width: Math.max(el.clientWidth, 200), height: 240 });
    }).observe(el);
    el.setAttribute("data-drawn", String(names.length));
  }

  function load(el) {
    fetch(el.getAttribute("data-chart"), { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("chart data: HTTP " + r.status);
        return r.json();
      })
      .then(function (data) { draw(el, data); })
      .catch(function (err) {
        el.textContent = "The chart could not be loaded.";
        console.error(err);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(load);
  });
})();
