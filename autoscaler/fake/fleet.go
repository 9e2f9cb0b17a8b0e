package fake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"k8s.io/utils/clock"
)

// Fleet is an in-memory FleetProvider. Launched instances are pending for
// BootDelay and then running; they are spread over Zones round-robin; at
// most Capacity more can be launched (negative: unlimited); instances added
// with AddForeign do not carry the cluster's tag and are never terminated.
type Fleet struct {
	recorder
	clock clock.PassiveClock

	mu sync.Mutex
	// BootDelay is how long an instance stays pending.
	BootDelay time.Duration
	// BootDelayFunc, when set, draws each new instance's boot delay
	// instead of BootDelay (the simulator draws 60-120 seconds).
	BootDelayFunc func() time.Duration
	// Zones are the zones instances are spread over; default one zone "zone-a".
	Zones []string
	// Market is the market new instances get; default spot.
	Market autoscaler.Market
	// Capacity is how many more instances can be launched; negative
	// means unlimited (the default from NewFleet).
	Capacity int
	// InstanceType is recorded on new instances; default "t3.medium".
	InstanceType string
	// Placer, when set, chooses where new instances go instead of Zones,
	// Market and InstanceType: Launch asks it for n placements, n being
	// what the operation still misses (after Capacity's limit), and
	// launches one instance per placement returned; fewer than n means
	// the pools were short, and Launch returns what it launched with an
	// error wrapping ErrInsufficientCapacity. It runs with the fleet's
	// lock held and must not call the Fleet. Nil: today's behaviour.
	// The simulator's pool model (package sim) is one.
	Placer func(req autoscaler.LaunchRequest, n int) []Placement

	seq        int
	bootAt     map[string]time.Time
	bootDelays map[string]time.Duration
	endedAt    map[string]time.Time
	live       map[string]bool // not terminated, not foreign: what List walks
	instances  map[string]*autoscaler.Instance
	foreign    map[string]bool
	launched   int
	killed     int
}

// Placement is where one new instance goes: its zone, market and
// instance type (a Fleet's Placer returns them).
type Placement struct {
	Zone         string
	Market       autoscaler.Market
	InstanceType string
}

// NewFleet returns an empty fleet with unlimited capacity and no boot delay.
func NewFleet(clk clock.PassiveClock) *Fleet {
	return &Fleet{clock: clk, Capacity: -1, instances: map[string]*autoscaler.Instance{}, foreign: map[string]bool{},
		bootAt: map[string]time.Time{}, bootDelays: map[string]time.Duration{}, endedAt: map[string]time.Time{}, live: map[string]bool{}}
}

// SetCapacity sets how many more instances can be launched (negative: unlimited).
func (f *Fleet) SetCapacity(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Capacity = n
}

// Add puts an instance of this cluster into the fleet as it is (for tests
// that need a given state: a ghost, an old instance).
func (f *Fleet) Add(in autoscaler.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := in
	f.instances[in.ID] = &c
	if in.State != autoscaler.StateTerminated {
		f.live[in.ID] = true
	}
}

// AddForeign puts an instance that does not carry this cluster's tag
// into the account: List does not return it and Terminate refuses it.
func (f *Fleet) AddForeign(in autoscaler.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := in
	f.instances[in.ID] = &c
	f.foreign[in.ID] = true
}

// Interrupt gives a spot interruption notice to instance id.
func (f *Fleet) Interrupt(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return fmt.Errorf("fake fleet: %s: %w", id, autoscaler.ErrNotFound)
	}
	in.InterruptionNotice = f.clock.Now()
	return nil
}

// Reclaim terminates an instance from the provider's side (a spot
// reclaim, a crash), without a Terminate call.
func (f *Fleet) Reclaim(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok := f.instances[id]; ok && in.State != autoscaler.StateTerminated {
		in.State = autoscaler.StateTerminated
		f.endedAt[id] = f.clock.Now()
		delete(f.live, id)
	}
}

// Lifetime is an instance's billing span: End is zero while it runs.
// InstanceType and Zone say which pool it was launched in.
type Lifetime struct {
	ID           string
	Market       autoscaler.Market
	Start        time.Time
	End          time.Time
	InstanceType string
	Zone         string
}

// Lifetimes returns the billing span of every instance of this cluster.
func (f *Fleet) Lifetimes() []Lifetime {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Lifetime, 0, len(f.instances))
	for id, in := range f.instances {
		if !f.foreign[id] {
			out = append(out, Lifetime{ID: id, Market: in.Market, Start: in.LaunchTime, End: f.endedAt[id],
				InstanceType: in.InstanceType, Zone: in.Zone})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *Fleet) refresh(now time.Time) {
	for id, at := range f.bootAt {
		if !now.Before(at) {
			if in := f.instances[id]; in.State == autoscaler.StatePending {
				in.State = autoscaler.StateRunning
			}
			delete(f.bootAt, id)
		}
	}
}

// RunningSince returns when instance id became (or becomes) running.
func (f *Fleet) RunningSince(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at, ok := f.bootAt[id]; ok {
		return at
	}
	if in, ok := f.instances[id]; ok {
		return in.LaunchTime.Add(f.bootDelays[id])
	}
	return time.Time{}
}

// List implements autoscaler.FleetProvider. Method for FailNext: List.
func (f *Fleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	if err := f.record(List); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.liveLocked(), nil
}

// liveLocked returns the live instances, sorted by id; f.mu is held.
func (f *Fleet) liveLocked() []autoscaler.Instance {
	f.refresh(f.clock.Now())
	out := make([]autoscaler.Instance, 0, len(f.live))
	for id := range f.live {
		out = append(out, *f.instances[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// liveInstances returns the live instances without recording a call.
func (f *Fleet) liveInstances() []autoscaler.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.liveLocked()
}

// terminated reports whether instance id of this cluster is terminated.
func (f *Fleet) terminated(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	return ok && !f.foreign[id] && in.State == autoscaler.StateTerminated
}

// Instances returns every instance of this cluster, terminated ones too.
func (f *Fleet) Instances() []autoscaler.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh(f.clock.Now())
	var out []autoscaler.Instance
	for id, in := range f.instances {
		if !f.foreign[id] {
			out = append(out, *in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Launch implements autoscaler.FleetProvider, idempotent by OperationID.
// Method for FailNext: Launch (an injected error launches nothing).
func (f *Fleet) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	if err := f.record(Launch, req.OperationID, req.Count); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.OperationID == "" || req.Count < 0 {
		return nil, fmt.Errorf("fake fleet: launch needs an OperationID and a Count >= 0, got %q, %d", req.OperationID, req.Count)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	mine := f.ofOperation(req.OperationID)
	zones, market, typ := f.launchDefaults()
	var err error
	short := func() {
		err = fmt.Errorf("fake fleet: launched %d of %d: %w", len(mine), req.Count, autoscaler.ErrInsufficientCapacity)
	}
	var placed []Placement
	if f.Placer != nil && len(mine) < req.Count {
		n := req.Count - len(mine)
		if f.Capacity >= 0 {
			n = min(n, f.Capacity)
		}
		if n > 0 {
			placed = f.Placer(req, n)
		}
	}
	for len(mine) < req.Count {
		if f.Capacity == 0 {
			short()
			break
		}
		f.seq++
		zone, mkt, it := zones[f.seq%len(zones)], market, typ
		if f.Placer != nil {
			if len(placed) == 0 {
				f.seq--
				short()
				break
			}
			zone, mkt, it = placed[0].Zone, placed[0].Market, placed[0].InstanceType
			placed = placed[1:]
		}
		if f.Capacity > 0 {
			f.Capacity--
		}
		mine = append(mine, f.start(now, req.OperationID, zone, mkt, it))
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].ID < mine[j].ID })
	return mine, err
}

// ofOperation returns the fleet's own instances launched by operation id,
// the ones a repeated Launch finds again. f.mu is held.
func (f *Fleet) ofOperation(id string) []autoscaler.Instance {
	var mine []autoscaler.Instance
	for iid, in := range f.instances {
		if !f.foreign[iid] && in.OperationID == id {
			mine = append(mine, *in)
		}
	}
	return mine
}

// launchDefaults returns the zones, market and instance type a launch
// without a Placer uses: the Fleet's, else zone-a, spot and t3.medium.
func (f *Fleet) launchDefaults() (zones []string, market autoscaler.Market, typ string) {
	zones, market, typ = f.Zones, f.Market, f.InstanceType
	if len(zones) == 0 {
		zones = []string{"zone-a"}
	}
	if market == "" {
		market = autoscaler.MarketSpot
	}
	if typ == "" {
		typ = "t3.medium"
	}
	return zones, market, typ
}

// start adds instance number f.seq of operation op, pending until its
// boot delay has passed (running at once without one), and returns it.
// f.mu is held.
func (f *Fleet) start(now time.Time, op, zone string, mkt autoscaler.Market, typ string) autoscaler.Instance {
	in := &autoscaler.Instance{
		ID:           fmt.Sprintf("i-%08d", f.seq),
		Zone:         zone,
		Market:       mkt,
		InstanceType: typ,
		State:        autoscaler.StatePending,
		LaunchTime:   now,
		PrivateIP:    fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+1),
		OperationID:  op,
	}
	boot := f.BootDelay
	if f.BootDelayFunc != nil {
		boot = f.BootDelayFunc()
	}
	f.bootDelays[in.ID] = boot
	if boot <= 0 {
		in.State = autoscaler.StateRunning
	} else {
		f.bootAt[in.ID] = now.Add(boot)
	}
	in.PrivateDNS = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + ".internal"
	f.instances[in.ID] = in
	f.live[in.ID] = true
	f.launched++
	return *in
}

// Terminate implements autoscaler.FleetProvider. Unknown ids are already
// gone; foreign ids are refused with ErrNotManaged. Method for FailNext: Terminate.
func (f *Fleet) Terminate(ctx context.Context, ids []string) error {
	if err := f.record(Terminate, strings.Join(ids, ",")); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var refused []string
	for _, id := range ids {
		if f.foreign[id] {
			refused = append(refused, id)
			continue
		}
		if in, ok := f.instances[id]; ok && in.State != autoscaler.StateTerminated {
			in.State = autoscaler.StateTerminated
			f.endedAt[id] = f.clock.Now()
			delete(f.live, id)
			f.killed++
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("fake fleet: refusing to terminate %s: %w", strings.Join(refused, ","), autoscaler.ErrNotManaged)
	}
	return nil
}

// Counts returns how many instances were launched and terminated so far.
func (f *Fleet) Counts() (launched, terminated int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.launched, f.killed
}

// Nodes is an in-memory NodeManager. With a Fleet attached it behaves like
// a cluster whose instances join: every running instance of the fleet gets
// a Ready node JoinDelay after it started running, unless NeverJoin names
// it; a node whose instance is terminated becomes NotReady.
type Nodes struct {
	recorder
	clock clock.PassiveClock
	fleet *Fleet

	mu sync.Mutex
	// JoinDelay is how long after running a node appears and is Ready.
	JoinDelay time.Duration
	// Cluster is the cluster label (autoscaler.Node.Cluster) of the nodes
	// that join, as the join script sets it. Default none.
	Cluster string
	nodes   map[string]*autoscaler.Node
	never   map[string]bool
	deleted map[string]bool
	pinned  map[string][]string // node-local data by the node name it is pinned to
}

// NewNodes returns a NodeManager; fleet may be nil (nodes are then only
// those added with Add).
func NewNodes(clk clock.PassiveClock, fleet *Fleet) *Nodes {
	return &Nodes{clock: clk, fleet: fleet, nodes: map[string]*autoscaler.Node{}, never: map[string]bool{}, deleted: map[string]bool{},
		pinned: map[string][]string{}}
}

// NodeName is the name the fake gives to the node of instance id.
func NodeName(instanceID string) string { return "node-" + instanceID }

// Add puts a node into the cluster as it is.
func (n *Nodes) Add(node autoscaler.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := node
	n.nodes[node.Name] = &c
}

// NeverJoin makes the given instances never become nodes (ghosts).
func (n *Nodes) NeverJoin(ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		n.never[id] = true
	}
}

// Update changes a node in place with fn; it reports whether it exists.
func (n *Nodes) Update(name string, fn func(*autoscaler.Node)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodes[name]
	if ok {
		fn(node)
	}
	return ok
}

// Get returns a node by name.
func (n *Nodes) Get(name string) (autoscaler.Node, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodes[name]
	if !ok {
		return autoscaler.Node{}, false
	}
	return *node, true
}

func (n *Nodes) sync() {
	if n.fleet == nil {
		return
	}
	now := n.clock.Now()
	// An instance a test gave a node of its own joins no second one.
	named := map[string]bool{}
	for _, node := range n.nodes {
		named[node.InstanceID] = true
	}
	// Only live instances can join; the walk is over them, not over every
	// instance ever launched.
	for _, in := range n.fleet.liveInstances() {
		id := in.ID
		name := NodeName(id)
		if _, ok := n.nodes[name]; ok || named[id] || n.never[id] || n.deleted[name] || in.State != autoscaler.StateRunning {
			continue
		}
		joinAt := n.fleet.RunningSince(id).Add(n.JoinDelay)
		if now.Before(joinAt) {
			continue
		}
		n.nodes[name] = &autoscaler.Node{
			Name: name, ProviderID: "aws:///" + in.Zone + "/" + id, InstanceID: id,
			InternalIP: in.PrivateIP, Hostname: in.PrivateDNS, Ready: true,
			ReadyTransition: joinAt, Created: joinAt, Managed: true, Cluster: n.Cluster, Zone: in.Zone,
		}
	}
	for _, node := range n.nodes {
		if node.Ready && node.InstanceID != "" && n.fleet.terminated(node.InstanceID) {
			node.Ready, node.ReadyTransition = false, now
		}
	}
}

// ListNodes implements autoscaler.NodeManager. Method for FailNext: ListNodes.
func (n *Nodes) ListNodes(ctx context.Context) ([]autoscaler.Node, error) {
	if err := n.record(ListNodes); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sync()
	out := make([]autoscaler.Node, 0, len(n.nodes))
	for _, node := range n.nodes {
		out = append(out, *node)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (n *Nodes) setCordon(method Method, name string, v bool) error {
	if err := n.record(method, name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodes[name]
	if !ok {
		return fmt.Errorf("fake nodes: %s %s: %w", strings.ToLower(method.String()), name, autoscaler.ErrNotFound)
	}
	node.Unschedulable = v
	return nil
}

// Cordon implements autoscaler.NodeManager.
func (n *Nodes) Cordon(ctx context.Context, name string) error {
	return n.setCordon(Cordon, name, true)
}

// Uncordon implements autoscaler.NodeManager.
func (n *Nodes) Uncordon(ctx context.Context, name string) error {
	return n.setCordon(Uncordon, name, false)
}

// Drain implements autoscaler.NodeManager: the node's pods are gone at
// once unless an error is injected ("Drain"), e.g. one wrapping
// ErrDrainBlocked.
func (n *Nodes) Drain(ctx context.Context, name string) error {
	if err := n.record(Drain, name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodes[name]
	if !ok {
		return fmt.Errorf("fake nodes: drain %s: %w", name, autoscaler.ErrNotFound)
	}
	if !node.Unschedulable {
		return errors.New("fake nodes: drain of a node that is not cordoned: " + name)
	}
	node.Pods = 0
	return nil
}

// DeleteNode implements autoscaler.NodeManager. As in a cluster, the
// node's PersistentVolumes (its LocalData entries that begin with
// "PersistentVolume ", as the drain package writes them) outlive its
// Node object: they stay pinned to the node's host name (Hostname, else
// Name), where PinnedData finds them. Its other data (its pods' hostPath
// volumes) is known no more: the pod garbage collector deletes the pods
// of a Node that is gone.
func (n *Nodes) DeleteNode(ctx context.Context, name string) error {
	if err := n.record(DeleteNode, name); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if node, ok := n.nodes[name]; ok && len(volumesOf(node.LocalData)) > 0 {
		host := cmp.Or(node.Hostname, node.Name)
		n.pinned[host] = append(n.pinned[host], volumesOf(node.LocalData)...)
	}
	delete(n.nodes, name)
	n.deleted[name] = true
	return nil
}

// Pin pins node-local data (PersistentVolumes, say) to a node name,
// whether or not a node of that name exists, as a PersistentVolume's node
// affinity does: PinnedData reports it under that name.
func (n *Nodes) Pin(name string, data ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pinned[name] = append(n.pinned[name], data...)
}

// PinnedData implements autoscaler.NodeManager: the data given to Pin
// and the volumes of the nodes deleted, by name, and the
// PersistentVolumes in the LocalData of every node (its entries that
// begin with "PersistentVolume "), under its host name (Hostname, else
// Name). Method for FailNext: PinnedData.
func (n *Nodes) PinnedData(ctx context.Context) (map[string][]string, error) {
	if err := n.record(PinnedData); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string][]string, len(n.pinned))
	for name, data := range n.pinned {
		out[name] = slices.Clone(data)
	}
	for _, node := range n.nodes {
		if v := volumesOf(node.LocalData); len(v) > 0 {
			host := cmp.Or(node.Hostname, node.Name)
			out[host] = append(out[host], v...)
		}
	}
	return out, nil
}

// volumesOf returns the entries of a node's LocalData that name a
// PersistentVolume: what the cluster keeps pinned to the node's name.
func volumesOf(data []string) []string {
	var out []string
	for _, d := range data {
		if strings.HasPrefix(d, "PersistentVolume ") {
			out = append(out, d)
		}
	}
	return out
}

// Names returns the names of the current nodes, sorted.
func (n *Nodes) Names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name := range n.nodes {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
