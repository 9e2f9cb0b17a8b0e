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
// # One fleet call per zone
//
// Launch spreads the missing instances over the availability zones of the
// configured subnets (only those in LaunchRequest.Zones when it names
// some) by water-filling: each new instance goes to the zone with the
// fewest workers, counted from LaunchRequest.ZoneCounts (the planner's
// count), or from List when the request has none; the operation's own
// instances always count in their zones. Each zone's share is asked for in
// one CreateFleet call of type instant: an override for every allowed
// instance type (Config.InstanceTypes, the launch template's type, or
// attribute-based Requirements) in each of that zone's subnets, spot with
// the price-capacity-optimized allocation strategy and on-demand with
// lowest-price (or prioritized by the types' order), and the spot share as
// the call's spot and on-demand target capacities. EC2 chooses the pools
// within the zone. One call over every subnet would let EC2 choose the
// zone too, and price-capacity-optimized then puts a whole scale-up in one
// zone: it optimises for capacity and price, not for spread.
//
// When a zone's spot falls short, a second call asks on-demand in that
// zone for the rest. When a pool is avoided for one market only, the
// markets are asked in two calls, each with its own pools. A zone that
// still falls short (out of capacity in both markets) hands what it did not
// launch to the other zones, water-filled again, in the same Launch; its
// refused pools are remembered (below), so the next launches leave it out
// until they expire.
//
// # Sizes
//
// Every instance counts as one unit of the fleet's target capacity,
// whatever its type: the autoscaler plans in nodes (MinNodes, MaxNodes,
// the node count a scale-up asks for), so the types allowed should be
// interchangeable, of one size (the same vCPUs and memory, say m5.large,
// m5a.large, m6i.large: every one big enough for the largest pod plus the
// DaemonSets; config.Build refuses INSTANCE_TYPES of different sizes by
// EC2's answers, not by the names: c5.large and r5.large differ), or a
// narrow Requirements range. Weighting types by vCPU or memory would make
// the count a launch returns differ from the nodes asked for.
//
// InstanceTypeSize answers a type's vCPUs and memory (EC2
// DescribeInstanceTypes, asked once per type): the Provider is a
// metrics.InstanceTypes, with which the scheduler's view sizes a new
// worker before one of the type has registered.
//
// # Capacity errors and remembered pools
//
// Each pool in the answer's errors that failed for capacity
// (InsufficientInstanceCapacity, SpotMaxPriceTooLow, UnfulfillableCapacity:
// that pool, or every pool of the call in its market when none is named;
// Unsupported: that type in that zone; InsufficientFreeAddressesInSubnet:
// the whole zone; MaxSpotInstanceCountExceeded, InstanceLimitExceeded,
// VcpuLimitExceeded: the market everywhere) is avoided for Config.AvoidFor
// (3 minutes by default, as Karpenter's unavailable offerings). The avoided
// pools live in a PoolMemory (Config.Pools): the default keeps them in the
// process; stored with the cluster's state, a cold start of the Lambda
// function knows them too. When no pool is left, Launch returns what it
// launched and a *CapacityError, which matches
// autoscaler.ErrInsufficientCapacity with errors.Is.
//
// With fewer than MinSpotInstanceTypes types allowed for spot (AWS's
// guidance), Warnings says so, for the autoscaler to surface.
//
// # Idempotent launches
//
// A launch is identified by its OperationID. Before launching, Launch lists
// the fleet and counts the instances that already carry the operation's tag,
// so a retried operation (a tick that died after asking for instances)
// launches only what is still missing. Each CreateFleet call also carries a
// ClientToken derived from the operation, the number of instances it had
// in the call's zone, the zone and the call's phase in it and the AvoidFor window it falls in,
// never from the subnets, types or markets chosen: a retry that asks a zone
// again (its instances not visible yet) sends the same token, and EC2
// answers it with the earlier request's instances, or with
// IdempotentParameterMismatch when the request differs (other pools
// chosen in the zone), which Launch returns without launching. (The window keeps an attempt that found
// no capacity from being answered with its empty result for ever.) The tag
// lookup is what the provider relies on: emulators such as moto ignore the
// ClientToken.
//
// # Markets
//
// With StrategySpotShare (the default, 70% spot) the fleet as a whole is
// kept near the configured spot share: a launch asks for as many spot
// instances as bring the fleet's spot count to round(share × fleet size
// after the launch). StrategySpotFirst asks for spot for every instance;
// StrategyOnDemand never does. Spot that cannot be had is launched on
// demand instead, and the returned Instance says which market it got.
//
// Throttling and server errors are retried by the SDK's retryer, configured
// on the client; the provider adds no retry loop of its own.
package ec2fleet
