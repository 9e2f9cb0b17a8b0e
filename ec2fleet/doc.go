// Package ec2fleet is a FleetProvider on Amazon EC2: it launches a K3s or
// Kubernetes cluster's worker instances from a launch template, spreads them
// over the availability zones of the configured subnets, mixes spot and
// on-demand capacity, and sees and touches only the instances tagged for its
// cluster.
//
// # Tags
//
// Every instance it launches carries TagCluster (the cluster id),
// TagManagedBy ("node-fleet"), TagOperation (the launch's OperationID) and a
// Name. The fleet is what node-fleet launched and nothing else: List finds
// the instances carrying both TagCluster and TagManagedBy, and Terminate
// refuses any instance lacking either, whatever ids it is given. The cluster
// tag alone is not enough: the deploy tags every resource of the cluster
// with it, the K3s server included, and a server counted as a worker that
// never joins would be terminated as a ghost.
//
// # Idempotent launches
//
// A launch is identified by its OperationID. Before launching, Launch lists
// the fleet and counts the instances that already carry the operation's tag,
// so a retried operation (a tick that died after asking for instances)
// launches only what is still missing. Each RunInstances call also carries a
// ClientToken derived from the operation, the instance's slot in it, the
// subnet and the market, so that EC2 itself returns the same instance when
// exactly the same request is repeated before the tags become visible. The
// tag lookup is what the provider relies on: emulators such as moto record
// the ClientToken but do not deduplicate by it.
//
// # Markets and zones
//
// With StrategySpotShare (the default, 70% spot) the fleet as a whole is
// kept near the configured spot share: a launch asks for as many spot
// instances as bring the fleet's spot count to round(share × fleet size
// after the launch). StrategySpotFirst asks for spot for every instance;
// StrategyOnDemand never does. A spot instance that cannot be had in any
// zone (capacity, price, spot limits) is launched on demand instead, and the
// returned Instance says which market it got.
//
// Each instance goes to the zone with the fewest of the cluster's active
// instances (ties: the subnet listed first). A capacity error
// (InsufficientInstanceCapacity, InsufficientFreeAddressesInSubnet,
// SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded, InstanceLimitExceeded,
// VcpuLimitExceeded, Unsupported) makes the provider avoid what failed for
// Config.AvoidFor (a zone and market, a whole zone, or a market in every
// zone, depending on the error) and try elsewhere. When nothing is left to
// try, Launch returns what it launched and a *CapacityError, which matches
// autoscaler.ErrInsufficientCapacity with errors.Is.
//
// Throttling and server errors are retried by the SDK's retryer, configured
// on the client; the provider adds no retry loop of its own.
package ec2fleet
