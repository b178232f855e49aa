/* FlowRT UI helpers shared by the pages. */
var flowrt = (function ($) {
  'use strict';
  var nf = $.inmon.stripchart.prototype.valueStr;

  function duration(ms) {
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
    var m = Math.floor(s / 60) % 60, sec = s % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + sec + 's';
  }

  function count(value) {
    return (value === undefined || value === null) ? '-' : Number(value).toLocaleString('en-US');
  }

  /* Poll url every period ms, calling success(body); errors retry slower. */
  function poll(url, period, success) {
    function next() {
      $.ajax({url: typeof url === 'function' ? url() : url, dataType: 'json', timeout: 30000,
        success: function (body) { success(body); setTimeout(next, period); },
        error: function () { setTimeout(next, period * 3); }});
    }
    next();
  }

  function query(params) {
    var out = {};
    var search = window.location.search.substring(1);
    if (!search) return out;
    search.split('&').forEach(function (pair) {
      var i = pair.indexOf('=');
      if (i > 0) out[decodeURIComponent(pair.substring(0, i))] =
        decodeURIComponent(pair.substring(i + 1).replace(/\+/g, ' '));
    });
    return out;
  }

  function setQuery(params) {
    var parts = [];
    for (var key in params) {
      if (params[key]) parts.push(encodeURIComponent(key) + '=' + encodeURIComponent(params[key]));
    }
    var page = window.location.pathname.split('/').pop();
    window.history.replaceState({}, '', parts.length ? page + '?' + parts.join('&') : page);
  }

  /* The navigation bar, one list for every page: fills <nav id="flowrt-nav"> and marks
     the current page active, so a new page is added here once, not in each page. */
  var PAGES = [['index.html', 'Status'], ['agents.html', 'Agents'], ['metrics.html', 'Metrics'],
    ['flows.html', 'Flows'], ['thresholds.html', 'Thresholds'], ['events.html', 'Events'],
    ['../api/', 'API']];

  function navbar() {
    var current = window.location.pathname.split('/').pop() || 'index.html';
    var nav = $('#flowrt-nav');
    nav.append($('<a class="navbar-brand" href="index.html">').text('FlowRT'));
    var list = $('<ul class="navbar-nav">').appendTo(nav);
    PAGES.forEach(function (page) {
      $('<li class="nav-item">').toggleClass('active', page[0] === current)
        .append($('<a class="nav-link">').attr('href', page[0]).text(page[1]))
        .appendTo(list);
    });
  }

  $(navbar);

  return {nf: nf, duration: duration, count: count, poll: poll, query: query, setQuery: setQuery};
})(jQuery);
