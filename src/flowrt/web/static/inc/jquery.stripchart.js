/*
 * FlowRT stripchart: a jQuery UI widget drawing time series on a canvas.
 *
 * Written for FlowRT so that pages built for sFlow-RT's /inc/ widgets render:
 *   $(el).stripchart(options)            create (options: units, stack, colors,
 *                                        legend, includeMillis, ymargin)
 *   $(el).stripchart('draw', data)       data = {times: [ms...], values: [[...], ...],
 *                                        legend?: [...], colors?: [...]}
 *   $(el).stripchart('destroy')          remove
 *   $.inmon.stripchart.prototype.valueStr(v)   5.2K / 1.3M style number
 */
(function ($) {
  'use strict';

  var COLORS = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6',
    '#dd4477', '#66aa00', '#b82e2e', '#316395', '#994499', '#22aa99', '#aaaa11',
    '#6633cc', '#e67300', '#8b0707', '#651067', '#329262', '#5574a6', '#3b3eac'];
  var SUFFIXES = ['', 'K', 'M', 'G', 'T', 'P', 'E'];

  function valueStr(value, includeMillis) {
    if (value === null || value === undefined || isNaN(value)) return '';
    var v = Number(value);
    if (v === 0) return '0';
    var sign = v < 0 ? '-' : '';
    v = Math.abs(v);
    if (v < 1) {
      if (includeMillis && v >= 0.001) return sign + (v * 1000).toPrecision(3) + 'm';
      return sign + v.toPrecision(3);
    }
    var i = 0;
    while (v >= 1000 && i < SUFFIXES.length - 1) { v /= 1000; i++; }
    var text = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
    text = text.replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
    return sign + text + SUFFIXES[i];
  }

  function niceMax(max) {
    if (!(max > 0)) return 1;
    var exp = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (max <= steps[i] * exp) return steps[i] * exp;
    }
    return 10 * exp;
  }

  function timeStr(ms) {
    var d = new Date(ms);
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  $.widget('inmon.stripchart', {
    options: {
      units: '',
      stack: false,
      colors: COLORS,
      legend: null,
      includeMillis: false,
      ymargin: 0.1,
      height: 250
    },

    _create: function () {
      this.element.addClass('stripchart');
      this._canvas = $('<canvas class="stripchart-canvas"></canvas>');
      this.element.prepend(this._canvas);
      this._data = null;
    },

    _destroy: function () {
      this._canvas.remove();
      this.element.removeClass('stripchart');
    },

    valueStr: function (value) { return valueStr(value, this.options.includeMillis); },

    draw: function (data) {
      if (data) this._data = data;
      data = this._data;
      var canvas = this._canvas[0];
      var width = Math.max(100, this.element.width() || 600);
      var height = this.options.height;
      var ratio = window.devicePixelRatio || 1;
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      canvas.style.width = width + 'px';
      canvas.style.height = height + 'px';
      var ctx = canvas.getContext('2d');
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.font = '11px sans-serif';
      var left = 60, right = 10, top = 18, bottom = 22;
      var plotW = width - left - right, plotH = height - top - bottom;
      var times = (data && data.times) || [];
      var series = (data && data.values) || [];
      var colors = (data && data.colors) || this.options.colors;
      var stack = this.options.stack;
      var n = times.length;
      // cumulative values when stacked
      var tops = [];
      var max = 0;
      for (var s = 0; s < series.length; s++) {
        var row = [];
        for (var i = 0; i < n; i++) {
          var v = Number(series[s][i]) || 0;
          if (stack && s > 0) v += tops[s - 1][i];
          row.push(v);
          if (v > max) max = v;
        }
        tops.push(row);
      }
      var ymax = niceMax(max * (1 + this.options.ymargin));
      var tmin = n ? times[0] : 0, tmax = n ? times[n - 1] : 1;
      if (tmax <= tmin) tmax = tmin + 1;
      var x = function (t) { return left + (t - tmin) * plotW / (tmax - tmin); };
      var y = function (val) { return top + plotH - val * plotH / ymax; };
      // grid and labels
      ctx.strokeStyle = '#ddd';
      ctx.fillStyle = '#555';
      ctx.lineWidth = 1;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (var g = 0; g <= 4; g++) {
        var gv = ymax * g / 4, gy = Math.round(y(gv)) + 0.5;
        ctx.beginPath(); ctx.moveTo(left, gy); ctx.lineTo(left + plotW, gy); ctx.stroke();
        ctx.fillText(valueStr(gv, this.options.includeMillis), left - 4, gy);
      }
      if (n) {
        ctx.textAlign = 'center';
        ctx.textBaseline = 'top';
        for (var k = 0; k <= 4; k++) {
          var tt = tmin + (tmax - tmin) * k / 4;
          ctx.fillText(timeStr(tt), Math.min(Math.max(x(tt), left + 20), left + plotW - 20),
            top + plotH + 5);
        }
      }
      if (this.options.units) {
        ctx.textAlign = 'left';
        ctx.textBaseline = 'top';
        ctx.fillText(this.options.units, left, 2);
      }
      // series, top-most first so stacked areas do not hide each other
      for (var j = tops.length - 1; j >= 0; j--) {
        var color = colors[j % colors.length];
        ctx.beginPath();
        for (var p = 0; p < n; p++) {
          if (p === 0) ctx.moveTo(x(times[p]), y(tops[j][p]));
          else ctx.lineTo(x(times[p]), y(tops[j][p]));
        }
        if (stack && n) {
          ctx.lineTo(x(times[n - 1]), y(0));
          ctx.lineTo(x(times[0]), y(0));
          ctx.closePath();
          ctx.fillStyle = color;
          ctx.fill();
        } else {
          ctx.strokeStyle = color;
          ctx.lineWidth = 1.5;
          ctx.stroke();
        }
      }
      this.element.attr('data-points', n).attr('data-series', series.length)
        .attr('data-ymax', ymax);
    }
  });

  $.inmon.stripchart.prototype.valueStr = function (value) { return valueStr(value, false); };
  $.inmon.stripchart.colors = COLORS;
})(jQuery);
