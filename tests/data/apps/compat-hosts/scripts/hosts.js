// FlowRT's own test app: host location, as fabric-view's Hosts tab and trace-flow use it.
// A Mininet-like topology around the replayed capture's Open vSwitch bridge (agent
// 127.0.0.1, ports 115 and 116 facing the two namespaces) and a second switch on a link.
setTopology({
  nodes: {
    s1: {agent: '127.0.0.1', ports: {
      's1-eth1': {ifindex: '115'}, 's1-eth2': {ifindex: '116'}, 's1-eth3': {ifindex: '117'}}},
    s2: {agent: '192.0.2.9', ports: {'s2-eth1': {ifindex: '1'}}}
  },
  links: {
    'l-s1-s2': {node1: 's1', port1: 's1-eth3', node2: 's2', port2: 's2-eth1'}
  }
});

setHttpHandler(function (req) {
  if (req.path[0] !== 'hosts') throw 'not_found';
  var macs = topologyLocatedHostMacs();
  var hosts = [];
  for (var i = 0; i < macs.length; i++) {
    var locs = topologyLocateHostMac(macs[i]);
    for (var j = 0; j < locs.length; j++) hosts.push(locs[j]);
  }
  return {
    hosts: hosts,
    atPort1: topologyLocatedHostMacs('127.0.0.1', '115'),
    atCore: topologyLocatedHostMacs('127.0.0.1', 117),
    atS2: topologyLocatedHostMacs('192.0.2.9'),
    byIP: topologyLocateHostIP('10.99.0.2'),
    unknown: topologyLocateHostMac('00:00:5e:00:53:01')
  };
});
