/*
 * FlowRT chart helper: $(el).chart(options, db) draws a shared trend database.
 *
 * The page keeps db.trend = {times: [ms...], trends: {name: [...]}} and triggers the
 * document event 'updateChart' after each update (the convention of sFlow-RT apps).
 *   type 'trend': options.metrics = [names], options.legend = [labels]; each
 *                 trends[name] is an array of numbers.
 *   type 'topn':  options.metric = name; trends[name] is an array of {key: value}
 *                 objects; the largest keys over the window become series, and a legend
 *                 table lists them (a swatch cell, then one cell per key field split
 *                 on options.sep, headed by options.legendHeadings).
 * Common options: units, stack, colors, topN (10), sep (','), legendHeadings.
 */
(function ($) {
  'use strict';

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  function topKeys(points, limit) {
    var totals = {};
    for (var i = 0; i < points.length; i++) {
      var entry = points[i] || {};
      for (var key in entry) totals[key] = (totals[key] || 0) + (Number(entry[key]) || 0);
    }
    return Object.keys(totals).sort(function (a, b) { return totals[b] - totals[a]; })
      .slice(0, limit);
  }

  function legendTable(el, headings, rows, colors) {
    var html = '<table class="table table-sm stripchart-legend"><thead><tr><th></th>';
    for (var h = 0; h < headings.length; h++) html += '<th>' + escapeHtml(headings[h]) + '</th>';
    html += '</tr></thead><tbody>';
    for (var r = 0; r < rows.length; r++) {
      html += '<tr><td><div class="swatch" style="background-color:' +
        colors[r % colors.length] + '"></div></td>';
      for (var c = 0; c < rows[r].length; c++) html += '<td>' + escapeHtml(rows[r][c]) + '</td>';
      html += '</tr>';
    }
    html += '</tbody></table>';
    var legend = el.children('.stripchart-legend-box');
    if (!legend.length) legend = $('<div class="stripchart-legend-box"></div>').appendTo(el);
    legend.html(html);
  }

  $.fn.chart = function (options, db) {
    var opts = $.extend({type: 'trend', units: '', stack: false, topN: 10, sep: ','}, options);
    var colors = opts.colors || $.inmon.stripchart.colors;
    var el = this;
    el.stripchart({units: opts.units, stack: opts.stack, colors: colors,
      includeMillis: opts.includeMillis});

    function update() {
      var trend = db && db.trend;
      if (!trend || !trend.times) return;
      var data = {times: trend.times, values: []};
      if (opts.type === 'topn') {
        var points = trend.trends[opts.metric] || [];
        var keys = topKeys(points, opts.topN);
        for (var k = 0; k < keys.length; k++) {
          var series = [];
          for (var p = 0; p < points.length; p++) series.push((points[p] || {})[keys[k]] || 0);
          data.values.push(series);
        }
        var headings = opts.legendHeadings || [opts.metric];
        legendTable(el, headings, keys.map(function (key) {
          return key.split(opts.sep);
        }), colors);
        el.attr('data-keys', keys.length);
      } else {
        var metrics = opts.metrics || [];
        for (var m = 0; m < metrics.length; m++) data.values.push(trend.trends[metrics[m]] || []);
        if (opts.legend) {
          legendTable(el, ['name'], opts.legend.map(function (l) { return [l]; }), colors);
        }
      }
      el.stripchart('draw', data);
    }

    $(document).on('updateChart', update);
    $(window).on('resize', update);
    update();
    return this;
  };
})(jQuery);
