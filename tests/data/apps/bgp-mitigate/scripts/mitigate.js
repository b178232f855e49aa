// A small ddos-protect: a TCP flood to one address triggers a threshold; the event
// installs a blackhole route (community 65535:666) and a FlowSpec drop rule on every
// router; when the threshold re-arms (the flood stopped) both are removed.
// Settings: mitigate.routers (comma list), mitigate.as, mitigate.id, mitigate.threshold.

var routers = (getSystemProperty('mitigate.routers') || '127.0.0.1').split(',');
var myAS = getSystemProperty('mitigate.as') || '65000';
var myID = getSystemProperty('mitigate.id') || '0.6.6.6';
var nexthop = getSystemProperty('mitigate.nexthop') || '192.0.2.1';
var threshold = parseInt(getSystemProperty('mitigate.threshold') || '1000');

var up = {}, opens = {}, closes = {}, controls = {};

function install(router, ctl) {
  ctl.route[router] = bgpAddRoute(router, {prefix: ctl.target, nexthop: nexthop,
                                           communities: '65535:666', localpref: '100'});
  ctl.flow[router] = bgpAddFlow(router, ctl.flowspec);
}

routers.forEach(function (router) {
  opens[router] = 0; closes[router] = 0;
  bgpAddNeighbor(router, myAS, myID, {ipv6: true, flowspec: true, flowspec6: true},
    function (r) {
      up[r] = true; opens[r] = (opens[r] || 0) + 1;
      for (var key in controls) install(r, controls[key]);  // as ddos-protect does
    },
    function (r) { up[r] = false; closes[r] = (closes[r] || 0) + 1; });
});

setFlow('mitigate_tcp', {keys: 'ipdestination,tcpdestinationport', value: 'frames', t: 2});
setThreshold('mitigate_tcp', {metric: 'mitigate_tcp', value: threshold, byFlow: true,
                              timeout: 2});

setEventHandler(function (evt) {
  var key = evt.flowKey;
  if (controls[key]) return;
  var [target, port] = key.split(',');
  var ctl = {key: key, target: target, event: evt, route: {}, flow: {},
             flowspec: {match: {destination: target, version: '4', protocol: '=6',
                                'destination-port': '=' + port},
                        then: {'traffic-rate': '0'}}};
  controls[key] = ctl;
  routers.forEach(function (router) { install(router, ctl); });
  logInfo('mitigate ' + key);
}, ['mitigate_tcp']);

setIntervalHandler(function () {
  for (var key in controls) {
    var ctl = controls[key], evt = ctl.event;
    if (thresholdTriggered(evt.thresholdID, evt.agent, evt.dataSource + '.' + evt.metric,
                           evt.flowKey)) continue;
    routers.forEach(function (router) {
      bgpRemoveRoute(router, ctl.target);
      bgpRemoveFlow(router, ctl.flowspec);
    });
    delete controls[key];
    logInfo('release ' + key);
  }
}, 1);

setHttpHandler(function (req) {
  var counts = {};
  routers.forEach(function (r) {
    counts[r] = {up: !!up[r], opens: opens[r], closes: closes[r],
                 routes: bgpRouteCount(r), flows: bgpFlowCount(r)};
  });
  return {routers: counts, controls: Object.keys(controls).map(function (k) {
    return {key: k, route: controls[k].route, flow: controls[k].flow};
  })};
});
