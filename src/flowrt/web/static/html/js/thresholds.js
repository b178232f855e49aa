/* Thresholds page: one row per threshold from /thresholds/json, refreshed every 2 s. */
$(function () {
  'use strict';
  function cell(text) { return $('<td></td>').text(text === undefined ? '' : String(text)); }
  flowrt.poll('../thresholds/json', 2000, function (thresholds) {
    var names = Object.keys(thresholds).sort();
    var body = $('#thresholds-table tbody').empty();
    names.forEach(function (name) {
      var t = thresholds[name];
      $('<tr></tr>').attr('data-threshold', name).append(
        cell(name), cell(t.metric), cell(t.value), cell(t.byFlow ? 'yes' : 'no'),
        cell(t.timeout), cell(t.filter ? JSON.stringify(t.filter) : '')
      ).appendTo(body);
    });
    $('#thresholds-count').text(names.length + (names.length === 1 ? ' threshold' : ' thresholds'));
  });
});
