// FlowRT's own test app: the topology part of the script API, as leaf/spine apps use it.
setTopology({
  nodes: {
    leaf1: {agent: '192.0.2.1', ports: {'swp1': {ifindex: '1'}, 'swp3': {ifindex: '3'}}},
    spine1: {agent: '192.0.2.2', ports: {'swp1': {ifindex: '1'}, 'swp2': {ifindex: '2'}}},
    leaf2: {agent: '192.0.2.3', ports: {'swp1': {ifindex: '1'}}}
  },
  links: {
    l1: {node1: 'leaf1', port1: 'swp1', node2: 'spine1', port2: 'swp1'},
    l2: {node1: 'leaf2', port1: 'swp1', node2: 'spine1', port2: 'swp2'}
  }
});

setHttpHandler(function (req) {
  if (req.path[0] !== 'answers') throw 'not_found';
  var here = topologyInterfaceToLink('192.0.2.2', '2');
  return {
    nodes: topologyNodeNames(true),
    spineLinks: topologyNodeLinks('spine1'),
    agent: topologyAgentForNode('leaf2'),
    nodesForAgent: topologyNodesForAgent('192.0.2.1', '3'),
    diameter: topologyDiameter(),
    link: {name: here.linkname, local: here.localnode, remote: here.remotenode},
    edgeLink: topologyInterfaceToLink('192.0.2.1', '3'),
    metrics: topologyLinkMetric('l1', 'ifinoctets,ifspeed').length,
    macs: topologyLocatedHostMacs(),
    located: topologyLocateHostMac('000000000001')
  };
});
