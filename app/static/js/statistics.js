// Statistics dashboard: draw each chart from the page's JSON data block; a click on
// a bar, point or funnel segment opens the list of units behind that number.
(function () {
  "use strict";

  var COLORS = ["#b02a37", "#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#20c997"];

  function readData() {
    var block = document.getElementById("statistics-data");
    if (!block) {
      return null;
    }
    try {
      return JSON.parse(block.textContent);
    } catch (error) {
      console.warn("statistics data is not readable", error);
      return null;
    }
  }

  function funnelOption(chart) {
    var series = chart.series[0];
    return {
      color: COLORS,
      tooltip: { trigger: "item" },
      series: [{
        type: "funnel",
        sort: "none",
        minSize: "8%",
        label: { show: true, position: "inside", formatter: "{b}: {c}" },
        data: chart.categories.map(function (name, index) {
          return { name: name, value: series.values[index], url: series.urls[index] };
        })
      }]
    };
  }

  function axisOption(chart) {
    var seriesType = chart.kind === "line" ? "line" : "bar";
    return {
      color: COLORS,
      tooltip: { trigger: "axis" },
      legend: { show: chart.series.length > 1, top: 0 },
      grid: { left: 40, right: 16, top: chart.series.length > 1 ? 32 : 16, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: chart.categories, axisLabel: { interval: 0, rotate: chart.categories.length > 6 ? 40 : 0 } },
      yAxis: { type: "value", minInterval: chart.kind === "line" ? 0 : 1 },
      series: chart.series.map(function (series) {
        return {
          name: series.name,
          type: seriesType,
          stack: chart.stacked ? "total" : undefined,
          data: series.values.map(function (value, index) {
            return { value: value, url: series.urls[index] };
          })
        };
      })
    };
  }

  function draw(chart) {
    var element = document.getElementById("chart-" + chart.id);
    if (!element || !chart.categories.length) {
      return null;
    }
    element.classList.add("is-drawn");
    var instance = window.echarts.init(element, null, { renderer: "svg" });
    instance.setOption(chart.kind === "funnel" ? funnelOption(chart) : axisOption(chart));
    instance.on("click", function (params) {
      if (params.data && params.data.url) {
        window.location.assign(params.data.url);
      }
    });
    element.setAttribute("data-drawn", "true");
    return instance;
  }

  function start() {
    var data = readData();
    if (!data || !window.echarts) {
      return;
    }
    var drawn = data.charts.map(draw).filter(Boolean);
    window.addEventListener("resize", function () {
      drawn.forEach(function (instance) { instance.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
