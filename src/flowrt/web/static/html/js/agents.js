/* Agents page: one row per agent from /agents/json, refreshed every 2 s. */
$(function () {
  'use strict';
  function cell(text) { return $('<td></td>').text(text); }
  flowrt.poll('../agents/json', 2000, function (agents) {
    var names = Object.keys(agents).sort();
    var body = $('#agents-table tbody').empty();
    names.forEach(function (name) {
      var a = agents[name];
      $('<tr></tr>').attr('data-agent', name).append(
        cell(name), cell(flowrt.count(a.sFlowDatagramsReceived)),
        cell(flowrt.count(a.sFlowDatagramsLost)), cell(flowrt.count(a.sFlowFlowSamples)),
        cell(flowrt.count(a.sFlowCounterSamples)),
        cell(flowrt.count((a.sFlowFlowLostSamples || 0) + (a.sFlowCounterLostSamples || 0))),
        cell(flowrt.count(a.sFlowDecodeErrors)), cell(flowrt.duration(a.lastSeen) + ' ago')
      ).appendTo(body);
    });
    $('#agent-count').text(names.length + (names.length === 1 ? ' agent' : ' agents'));
  });
});
