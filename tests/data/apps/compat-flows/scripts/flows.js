// FlowRT's own test app: the flow, interval, utility and HTTP parts of the script API
// the way sFlow-RT apps use them (numeric strings, optional arguments, promises).
var state = {now: 0, ticks: 0, promised: false, logged: false, points: 0};

setFlow('compat_pair', {keys: 'ipsource,ipdestination', value: 'bytes', n: '10', t: '2'});
setFlow('compat_null', {keys: 'null:tcpsourceport', value: 'frames', t: 2});
baselineCreate('compat');
Promise.resolve(42).then(function (v) { state.promised = v === 42; });
try { throw new Error('compat boom'); } catch (e) { logInfo(e); state.logged = true; }

setIntervalHandler(function (now) {
  state.now = now;
  state.ticks++;
  state.topology = dump('TOPOLOGY', 'ifinoctets').length;
  var flows = activeFlows('ALL', 'compat_pair', 5);
  if (flows.length > 0) { baselineCheck('compat', flows[0].value); state.points++; }
});

setHttpHandler(function (req) {
  switch (req.path[0]) {
    case 'version': return version();
    case 'state': {
      var agent = Object.keys(agents())[0] || null;
      var info = agent ? datasourceInfo([agent], '2.1000') : null;
      return {
        now: state.now, ticks: state.ticks, promised: state.promised, logged: state.logged,
        topology: state.topology, points: state.points,
        agentNames: agent ? Object.keys(agents([agent])) : [],
        info: info,
        flows: activeFlows('ALL', 'compat_pair', 5),
        nullKeys: activeFlows('ALL', 'compat_null', 5).map(function (f) { return f.key; }),
        formatted: formatNumber(1234567.891, '#,##0.00'),
        percent: formatNumber(12.4, "0'%' difference")
      };
    }
  }
  throw 'not_found';
});
