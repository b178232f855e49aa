/* Metrics browser: pick an agent and a metric, chart /metric/{agent}/{agg}:{metric}/json. */
$(function () {
  'use strict';
  var STEP = 1000, MAX_POINTS = 300;
  var params = flowrt.query();
  var state = {agent: params.agent || 'ALL', metric: params.metric || '',
    aggregation: params.aggregation || 'max'};
  var db = {trend: {times: [], trends: {value: []}}};
  $('#chart').chart({type: 'trend', metrics: ['value'], units: ''}, db);
  $('#aggregation').val(state.aggregation);

  function resetChart() {
    db.trend.times = [];
    db.trend.trends.value = [];
    flowrt.setQuery(state);
    $('#metric-name').text(state.metric);
  }

  function fillMetrics() {
    var url = state.agent === 'ALL' ? '../metrics/json' : '../metric/' + state.agent + '/json';
    $.getJSON(url, function (metrics) {
      var names = {};
      Object.keys(metrics).forEach(function (k) {
        names[state.agent === 'ALL' ? k : k.substring(k.lastIndexOf('.') + 1)] = true;
      });
      var list = Object.keys(names).sort();
      if (!names[state.metric]) state.metric = list[0] || '';
      var select = $('#metric').empty();
      list.forEach(function (name) { $('<option></option>').text(name).appendTo(select); });
      select.val(state.metric);
      resetChart();
    });
  }

  $.getJSON('../agents/json', function (agents) {
    var select = $('#agent').empty();
    $('<option></option>').text('ALL').appendTo(select);
    Object.keys(agents).sort().forEach(function (a) {
      $('<option></option>').text(a).appendTo(select);
    });
    select.val(state.agent);
    fillMetrics();
  });

  $('#agent').change(function () { state.agent = $(this).val(); fillMetrics(); });
  $('#metric').change(function () { state.metric = $(this).val(); resetChart(); });
  $('#aggregation').change(function () { state.aggregation = $(this).val(); resetChart(); });

  flowrt.poll(function () {
    return state.metric ? '../metric/' + state.agent + '/' + state.aggregation + ':' +
      state.metric + '/json' : '../metrics/json';
  }, STEP, function (data) {
    if (!state.metric || !$.isArray(data) || !data.length) return;
    var val = data[0].metricValue;
    var t = db.trend;
    t.times.push(Date.now());
    t.trends.value.push($.isNumeric(val) ? Number(val) : 0);
    if (t.times.length > MAX_POINTS) { t.times.shift(); t.trends.value.shift(); }
    $('#metric-value').text($.isNumeric(val) ? flowrt.nf(val) : (val === undefined ? '-' : val));
    $('#metric-agent').text(data[0].agent || '');
    $('#metric-datasource').text(data[0].dataSource || '');
    $('#metric-n').text(data[0].metricN);
    $.event.trigger({type: 'updateChart'});
  });
});
