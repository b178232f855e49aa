/* Events page: the newest threshold events from /events/json, refreshed every 2 s. */
$(function () {
  'use strict';
  function cell(text) { return $('<td></td>').text(text === undefined ? '' : String(text)); }
  flowrt.poll('../events/json?maxEvents=100', 2000, function (events) {
    var body = $('#events-table tbody').empty();
    events.forEach(function (e) {
      $('<tr></tr>').attr('data-event', e.eventID).append(
        cell(new Date(e.timestamp).toLocaleTimeString()), cell(e.thresholdID), cell(e.agent),
        cell(e.dataSource), cell(e.metric), cell(flowrt.nf(e.value)), cell(e.flowKey)
      ).appendTo(body);
    });
    $('#events-count').text(events.length + (events.length === 1 ? ' event' : ' events'));
  });
});
