/* Flow browser: keys, value and filter in (URL parameters as sFlow-RT's browse-flows),
   a live top-N chart out, from /flowrt/browse-flows/json. */
$(function () {
  'use strict';
  var URL = '../flowrt/browse-flows/json';
  var SEP = '_SEP_';
  var params = flowrt.query();
  var state = {keys: params.keys || '', value: params.value || '', filter: params.filter || ''};
  var db = {};
  var timer = null, running = false, generation = 0;

  $('#keys').val(state.keys);
  $('#value').val(state.value);
  $('#filter').val(state.filter);
  $.getJSON('../flowkeys/json', function (keys) {
    $('#known-keys').text(Object.keys(keys).sort().join(', '));
  });

  function valueKey(v) { return v === 'bps' || v === 'Bps' ? 'bytes' : v === 'fps' ? 'frames' : v; }
  function scale(v) { return v === 'bps' ? 8 : 1; }
  function title(v) {
    return {bps: 'bits per second', Bps: 'bytes per second', fps: 'frames per second'}[v] || v;
  }

  function stop() {
    running = false;
    generation++;
    if (timer) clearTimeout(timer);
    $(document).off('updateChart');
    if (db.trend) {
      $('#topn').stripchart('destroy');
      delete db.trend;
    }
    $('#topn').empty();
  }

  function merge(data, factor) {
    var trend = data && data.trend;
    if (!trend || !trend.times || !trend.times.length) return;
    trend.trends.topn.forEach(function (entry) {
      for (var key in entry) entry[key] *= factor;
    });
    var t = db.trend;
    t.times = t.times.concat(trend.times);
    t.trends.topn = t.trends.topn.concat(trend.trends.topn);
    var extra = t.times.length - (trend.maxPoints || 300);
    if (extra > 0) { t.times = t.times.slice(extra); t.trends.topn = t.trends.topn.slice(extra); }
    t.end = t.times[t.times.length - 1];
    $.event.trigger({type: 'updateChart'});
  }

  function pollFlows(mine) {
    var q = {keys: state.keys, value: valueKey(state.value), filter: state.filter};
    if (db.trend && db.trend.end) q.after = db.trend.end;
    $.ajax({url: URL, data: q, dataType: 'json',
      success: function (data) {
        if (!running || mine !== generation) return;
        $('#error').hide();
        merge(data, scale(state.value));
        timer = setTimeout(function () { pollFlows(mine); }, 1000);
      },
      error: function (xhr) {
        if (!running || mine !== generation) return;
        var msg = (xhr.responseJSON && xhr.responseJSON.error) || xhr.statusText;
        $('#error').text(msg).show();
        timer = setTimeout(function () { pollFlows(mine); }, 5000);
      }});
  }

  function start() {
    stop();
    flowrt.setQuery(state);
    if (!state.keys || !state.value) { $('#help').show(); return; }
    $('#help').hide();
    db.trend = {times: [], trends: {topn: []}};
    $('#topn').chart({type: 'topn', metric: 'topn', stack: true, sep: SEP,
      legendHeadings: state.keys.split(','), units: title(state.value)}, db);
    running = true;
    pollFlows(generation);
  }

  $('#submit').click(function () {
    state.keys = $.trim($('#keys').val()).replace(/,$/, '');
    state.value = $.trim($('#value').val());
    state.filter = $.trim($('#filter').val());
    start();
  });
  $('#reset').click(function () {
    state = {keys: '', value: '', filter: ''};
    $('#keys,#value,#filter').val('');
    start();
  });
  $('#topn').on('click', 'td', function () {
    var headings = state.keys.split(',');
    var clauses = [];
    $(this).closest('tr').children('td').each(function (i, td) {
      if (i > 0) clauses.push(headings[i - 1] + "='" + $(td).text() + "'");
    });
    state.filter = (state.filter ? state.filter + '&' : '') + clauses.join('&');
    $('#filter').val(state.filter);
    start();
  });
  start();
});
