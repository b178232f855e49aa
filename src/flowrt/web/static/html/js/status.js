/* Status page: /analyzer/json and /agents/json every 2 s; rates from counter deltas. */
$(function () {
  'use strict';
  var PERIOD = 2000, MAX_POINTS = 150;
  var last = null;
  var db = {trend: {times: [], trends: {datagrams: [], samples: []}}};
  $('#trend').chart({type: 'trend', metrics: ['datagrams'], units: 'datagrams/s'}, db);

  function samples(a) {
    return (a.sFlowFlowSamples || 0) + (a.sFlowCounterSamples || 0) + (a.sFlowDiscardSamples || 0);
  }

  flowrt.poll('../analyzer/json', PERIOD, function (a) {
    var now = Date.now();
    $('#agents').text(flowrt.count(a.sFlowAgents));
    $('#datagrams').text(flowrt.count(a.sFlowDatagramsReceived));
    $('#decode-errors').text(flowrt.count(a.sFlowDecodeErrors));
    $('#socket-drops').text(flowrt.count(a.sFlowSocketDrops));
    $('#uptime').text(flowrt.duration(a.uptime));
    $('#version').text(a.version);
    if (last) {
      var secs = (now - last.time) / 1000;
      var dgRate = Math.max(0, (a.sFlowDatagramsReceived - last.body.sFlowDatagramsReceived) / secs);
      var smRate = Math.max(0, (samples(a) - samples(last.body)) / secs);
      $('#datagrams-rate').text(flowrt.nf(dgRate));
      $('#samples-rate').text(flowrt.nf(smRate));
      var t = db.trend;
      t.times.push(now);
      t.trends.datagrams.push(dgRate);
      t.trends.samples.push(smRate);
      if (t.times.length > MAX_POINTS) {
        t.times.shift(); t.trends.datagrams.shift(); t.trends.samples.shift();
      }
      $.event.trigger({type: 'updateChart'});
    }
    last = {time: now, body: a};
  });

  flowrt.poll('../agents/json', PERIOD, function (agents) {
    var lost = 0;
    for (var name in agents) lost += agents[name].sFlowDatagramsLost || 0;
    $('#loss').text(flowrt.count(lost));
  });
});
