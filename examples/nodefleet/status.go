package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/kube/clientset"
	"github.com/node-fleet/node-fleet/state"
)

// statusReport is what status shows; its JSON form is -json's output.
type statusReport struct {
	Cluster     string
	Now         time.Time
	Lock        state.LockStatus
	Operation   *autoscaler.Operation `json:",omitempty"`
	Paused      *autoscaler.Pause     `json:",omitempty"`
	NodeCount   int
	LastScaleUp time.Time
	LastDown    time.Time
	// SafetyMode is the last tick's; Missing the readings it lacked.
	SafetyMode bool
	Missing    []string `json:",omitempty"`
	Last       []autoscaler.Record
	Fleet      []fleetRow
	// Zones are the fleet's active instances per availability zone.
	Zones map[string]int `json:",omitempty"`
	// Orphans are managed nodes matched to no instance.
	Orphans []string `json:",omitempty"`
	// NodesError says why the nodes could not be read, if so.
	NodesError string `json:",omitempty"`
	// Unknown is true when the table holds nothing for the cluster (never
	// ticked, or a wrong -cluster).
	Unknown bool `json:",omitempty"`
	Table   string
}

type fleetRow struct {
	autoscaler.Instance
	Node    string `json:",omitempty"`
	Ready   *bool  `json:",omitempty"`
	Blocker string `json:",omitempty"`
}

func statusFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	last := fs.Int("last", 5, "how many of the last decisions to show")
	asJSON := fs.Bool("json", false, "print JSON instead of text: a stable format, snake_case names, null for unknown times (documented in the command's doc)")
	return func(ctx context.Context, e *env) error {
		if *last < 0 {
			return fmt.Errorf("-last %d: want 0 or more: %w", *last, errUsage)
		}
		rep, err := e.status(ctx, *last)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep.toJSON()); err != nil {
				return err
			}
		} else {
			rep.write(e.stdout)
		}
		if rep.NodesError != "" {
			return fmt.Errorf("the nodes could not be read: %s", rep.NodesError)
		}
		return nil
	}
}

func (e *env) status(ctx context.Context, last int) (statusReport, error) {
	rep := statusReport{Cluster: e.cluster, Table: e.table, Now: e.now().UTC()}
	var err error
	if rep.Lock, err = e.store.Lock(ctx); err != nil {
		return rep, err
	}
	st, err := e.store.Load(ctx)
	if err != nil {
		return rep, err
	}
	rep.Operation, rep.Paused, rep.NodeCount = st.Operation, st.Paused, st.NodeCount
	rep.Unknown = rep.Lock.Token == 0 && st.Version == 0 && len(st.History) == 0
	rep.LastScaleUp, rep.LastDown = st.LastScaleUp, st.LastScaleDown
	if n := len(st.History); n > 0 {
		r := st.History[n-1]
		rep.SafetyMode = r.Safety
		for _, m := range []struct {
			name string
			v    float64
		}{{autoscaler.MetricCPU, r.CPU}, {autoscaler.MetricMemory, r.Memory}, {autoscaler.MetricPendingPods, r.PendingPods}} {
			if math.IsNaN(m.v) {
				rep.Missing = append(rep.Missing, m.name)
			}
		}
		rep.Last = st.History[max(0, n-last):]
	}
	instances, err := listFleet(ctx, e.ec2, e.cluster)
	if err != nil {
		return rep, err
	}
	var nodes []autoscaler.Node
	mgr, err := drain.New(drain.Config{Client: clientset.New(e.kube), NodeSelector: e.nodeSel})
	if err == nil {
		nodes, err = mgr.ListNodes(ctx)
	}
	if err != nil {
		rep.NodesError = err.Error()
	}
	byInstance, unmatched := autoscaler.MatchNodes(instances, nodes)
	for _, in := range instances {
		row := fleetRow{Instance: in}
		if n, ok := byInstance[in.ID]; ok {
			ready := n.Ready
			row.Node, row.Ready, row.Blocker = n.Name, &ready, n.ScaleDownBlocker
		}
		rep.Fleet = append(rep.Fleet, row)
	}
	rep.Zones = fleetZones(rep.Fleet)
	for _, n := range unmatched {
		if n.Managed {
			rep.Orphans = append(rep.Orphans, n.Name)
		}
	}
	return rep, nil
}

func (r statusReport) write(w0 interface{ Write([]byte) (int, error) }) {
	w := tabwriter.NewWriter(w0, 0, 4, 2, ' ', 0)
	defer w.Flush()
	now := r.Now
	fmt.Fprintf(w, "cluster:\t%s\n", r.Cluster)
	if r.Unknown {
		fmt.Fprintf(w, "warning:\tthe table %s holds nothing for cluster %s: it has never ticked, or -cluster (CLUSTER_ID) is wrong\n", r.Table, r.Cluster)
	}
	l := r.Lock
	switch {
	case l.Owner == "":
		fmt.Fprintf(w, "lock:\tfree (fencing token %d)\n", l.Token)
	case l.Held && !l.Expires.After(now):
		// Held for the clock-skew margin after its expiry (state.DynamoConfig.ClockSkew).
		fmt.Fprintf(w, "lock:\theld by %s: its lease expired %s (%s), within the clock-skew margin; taken over once the margin has passed, token %d\n",
			l.Owner, l.Expires.Format(time.RFC3339), ago(now, l.Expires), l.Token)
	case l.Held:
		fmt.Fprintf(w, "lock:\theld by %s until %s (%s), token %d\n", l.Owner, l.Expires.Format(time.RFC3339), ago(now, l.Expires), l.Token)
	default:
		fmt.Fprintf(w, "lock:\texpired: %s's lease ended %s (%s), token %d; the next tick takes it over\n", l.Owner, l.Expires.Format(time.RFC3339), ago(now, l.Expires), l.Token)
	}
	if u := l.LastUnlock; u != nil {
		forced := ""
		if u.Forced {
			forced = ", forced while valid"
		}
		fmt.Fprintf(w, "last unlock:\tby %s at %s (%s): %s's lease, token %d%s\n", u.By, u.At.Format(time.RFC3339), ago(now, u.At), u.Owner, u.Token, forced)
	}
	if r.Paused != nil {
		fmt.Fprintf(w, "paused:\tyes, %s (%s); ticks start nothing new, repair included\n", r.Paused, ago(now, r.Paused.At))
	} else {
		fmt.Fprintf(w, "paused:\tno\n")
	}
	if op := r.Operation; op != nil {
		fmt.Fprintf(w, "operation:\t%s %s", op.Kind, op.ID)
		if op.Count > 0 {
			fmt.Fprintf(w, ", %d instances", op.Count)
		}
		if op.NodeName != "" || op.InstanceID != "" {
			fmt.Fprintf(w, ", node %s instance %s", op.NodeName, op.InstanceID)
		}
		if op.Phase != "" {
			fmt.Fprintf(w, ", phase %s", op.Phase)
		}
		fmt.Fprintf(w, ", started %s (%s)", op.Started.Format(time.RFC3339), ago(now, op.Started))
		if op.Attempts > 0 {
			fmt.Fprintf(w, ", %d recovery attempts", op.Attempts)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "operation:\tnone\n")
	}
	switch {
	case len(r.Last) == 0:
		fmt.Fprintf(w, "safety mode:\tunknown (no tick recorded)\n")
	case r.SafetyMode && len(r.Missing) > 0:
		fmt.Fprintf(w, "safety mode:\tyes at the last tick: missing %s (no scale-down until they are back)\n", strings.Join(r.Missing, ", "))
	case r.SafetyMode:
		fmt.Fprintf(w, "safety mode:\tyes at the last tick: readings stale or out of range (no scale-down)\n")
	default:
		fmt.Fprintf(w, "safety mode:\tno\n")
	}
	fmt.Fprintf(w, "nodes:\t%d active after the last tick; last scale-up %s, last scale-down %s\n", r.NodeCount, when(now, r.LastScaleUp), when(now, r.LastDown))
	fmt.Fprintf(w, "zones:\t%s\n", zonesLine(r.Zones))
	w.Flush()

	fmt.Fprintf(w0, "\nlast decisions:\n")
	writeRecords(w0, r.Last)

	fmt.Fprintf(w0, "\nfleet (%d instances):\n", len(r.Fleet))
	w = tabwriter.NewWriter(w0, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INSTANCE\tTYPE\tMARKET\tZONE\tSTATE\tAGE\tNODE\tREADY\tBLOCKER")
	for _, f := range r.Fleet {
		node, ready := "-", "-"
		if f.Node != "" {
			node, ready = f.Node, "no"
			if *f.Ready {
				ready = "yes"
			}
		} else if r.NodesError == "" {
			node = "(none: booting or never joined)"
		}
		blocker := f.Blocker
		if !f.InterruptionNotice.IsZero() {
			blocker = strings.TrimPrefix(blocker+"; spot interruption notice "+ago(now, f.InterruptionNotice), "; ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.InstanceType, f.Market, f.Zone, f.State,
			roundHuman(now.Sub(f.LaunchTime)), node, ready, orDash(blocker))
	}
	w.Flush()
	if len(r.Orphans) > 0 {
		fmt.Fprintf(w0, "managed nodes without an instance: %s\n", strings.Join(r.Orphans, ", "))
	}
	if r.NodesError != "" {
		fmt.Fprintf(w0, "nodes: cannot be read: %s\n", r.NodesError)
	}
}

// fleetZones counts the active instances of fleet per zone.
func fleetZones(fleet []fleetRow) map[string]int {
	out := map[string]int{}
	for _, f := range fleet {
		if f.State.Active() {
			out[cmp.Or(f.Zone, "unknown")]++
		}
	}
	return out
}

// zonesLine is zones as "us-east-1a 2, us-east-1b 1 (max - min 1)", in
// zone order.
func zonesLine(zones map[string]int) string {
	if len(zones) == 0 {
		return "none (no active instance)"
	}
	var parts []string
	lo, hi := math.MaxInt, 0
	for _, z := range slices.Sorted(maps.Keys(zones)) {
		n := zones[z]
		parts = append(parts, fmt.Sprintf("%s %d", z, n))
		lo, hi = min(lo, n), max(hi, n)
	}
	return fmt.Sprintf("%s (max - min %d)", strings.Join(parts, ", "), hi-lo)
}

func when(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339) + " (" + ago(now, t) + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
