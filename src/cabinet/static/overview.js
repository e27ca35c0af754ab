// Charts of the cabinet's overview, drawn with uPlot (served by us from node_modules).
// The figures come from the page itself (a JSON script element), so the charts need no
// request of their own and show exactly what the tables beside them show.
(function () {
  var holder = document.getElementById("stats-data");
  if (!holder || typeof uPlot === "undefined") return;
  var data = JSON.parse(holder.textContent);
  var xs = data.days.map(function (d) { return Date.parse(d.day + "T12:00:00Z") / 1000; });
  var dayLabel = function (u, vals) {
    return vals.map(function (v) { return new Date(v * 1000).toLocaleDateString("ru-RU", { day: "numeric", month: "short" }); });
  };
  var pick = function (k, scale) { return data.days.map(function (d) { return scale ? d[k] / scale : d[k]; }); };
  var colors = ["#1f6feb", "#1a7f37", "#cf222e", "#9a6700"];
  function chart(id, series, values, unit) {
    var el = document.getElementById(id);
    if (!el) return;
    var opts = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      scales: { x: { time: true } },
      axes: [
        { values: dayLabel },
        { values: function (u, vals) { return vals.map(function (v) { return v.toLocaleString("ru-RU") + (unit || ""); }); }, size: 70 },
      ],
      series: [{ label: "День", value: function (u, v) { return v == null ? "" : new Date(v * 1000).toLocaleDateString("ru-RU"); } }].concat(
        series.map(function (label, i) {
          return { label: label, stroke: colors[i], width: 2, points: { show: xs.length <= 62 },
            value: function (u, v) { return v == null ? "" : v.toLocaleString("ru-RU") + (unit || ""); } };
        })
      ),
    };
    new uPlot(opts, [xs].concat(values), el);
  }
  chart("chart-sales", ["Все продажи", "Через программу"], [pick("allKopecks", 100), pick("memberKopecks", 100)], " ₽");
  chart("chart-share", ["Чеков с покупателем"], [data.days.map(function (d) { return d.receipts ? Math.round(d.memberReceipts * 1000 / d.receipts) / 10 : null; })], " %");
  chart("chart-points", ["Начислено", "Списано", "Сгорело"], [pick("pointsEarned"), pick("pointsSpent"), pick("pointsBurned")]);
  chart("chart-customers", ["Новые", "Вернувшиеся"], [pick("newCustomers"), pick("returningCustomers")]);
})();
