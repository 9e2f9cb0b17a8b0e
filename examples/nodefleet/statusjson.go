package main

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The JSON of status -json (and of history -json, its records) is a
// stable format for scripts: its names are snake_case, a time that is
// unknown or never happened is null (never 0001-01-01T00:00:00Z), a
// missing reading is null, and names are only ever added, never renamed
// or removed. testdata/status.golden.json is an
// example, checked by a test.

// statusJSON is status -json's document.
type statusJSON struct {
	Cluster string     `json:"cluster"`
	Table   string     `json:"table"`
	Now     *time.Time `json:"now"`
	// Unknown is true when the table holds nothing for the cluster.
	Unknown       bool           `json:"unknown"`
	Lock          lockJSON       `json:"lock"`
	Paused        *pauseJSON     `json:"paused"`
	Operation     *operationJSON `json:"operation"`
	NodeCount     int            `json:"node_count"`
	LastScaleUp   *time.Time     `json:"last_scale_up"`
	LastScaleDown *time.Time     `json:"last_scale_down"`
	SafetyMode    bool           `json:"safety_mode"`
	Missing       []string       `json:"missing_readings"`
	Last          []recordJSON   `json:"last_decisions"`
	Fleet         []instanceJSON `json:"fleet"`
	Zones         map[string]int `json:"zones"`
	Orphans       []string       `json:"orphan_nodes"`
	NodesError    *string        `json:"nodes_error"`
}

type lockJSON struct {
	Owner      *string     `json:"owner"`
	Expires    *time.Time  `json:"expires"`
	Token      int64       `json:"token"`
	Held       bool        `json:"held"`
	LastUnlock *unlockJSON `json:"last_unlock"`
}

type unlockJSON struct {
	By      string     `json:"by"`
	At      *time.Time `json:"at"`
	Owner   string     `json:"owner"`
	Token   int64      `json:"token"`
	Expires *time.Time `json:"expires"`
	Forced  bool       `json:"forced"`
}

type pauseJSON struct {
	By     string     `json:"by"`
	At     *time.Time `json:"at"`
	Reason string     `json:"reason"`
}

type operationJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Count      int        `json:"count"`
	NodeName   *string    `json:"node_name"`
	InstanceID *string    `json:"instance_id"`
	Phase      *string    `json:"phase"`
	Started    *time.Time `json:"started"`
	Attempts   int        `json:"attempts"`
	Replacing  []string   `json:"replacing"`
	Zones      []string   `json:"zones"`
}

type recordJSON struct {
	Time        *time.Time          `json:"time"`
	CPU         *float64            `json:"cpu_percent"`
	Memory      *float64            `json:"memory_percent"`
	PendingPods *float64            `json:"pending_pods"`
	Custom      map[string]*float64 `json:"custom"`
	Nodes       int                 `json:"nodes"`
	Instances   int                 `json:"instances"`
	Action      string              `json:"action"`
	Count       int                 `json:"count"`
	Safety      bool                `json:"safety_mode"`
	Hold        *string             `json:"hold"`
	DryRun      bool                `json:"dry_run"`
	Would       []string            `json:"would"`
	// The forecast the tick's policy made, in forecast-only mode the
	// shadow policy's (null when none), the lead time it was made for
	// in nanoseconds (null when none, or not recorded), and the Ready
	// nodes a forecast-only policy wanted (null outside that mode).
	ForecastMethod   *string        `json:"forecast_method"`
	ForecastNodes    *float64       `json:"forecast_nodes"`
	ForecastHeadroom *float64       `json:"forecast_headroom_nodes"`
	ForecastLead     *time.Duration `json:"forecast_lead_ns"`
	ShadowDesired    *int           `json:"shadow_desired_nodes"`
}

type instanceJSON struct {
	ID                 string     `json:"id"`
	Zone               *string    `json:"zone"`
	Market             string     `json:"market"`
	InstanceType       string     `json:"instance_type"`
	State              string     `json:"state"`
	LaunchTime         *time.Time `json:"launch_time"`
	PrivateIP          *string    `json:"private_ip"`
	Node               *string    `json:"node"`
	Ready              *bool      `json:"ready"`
	ScaleDownBlocker   *string    `json:"scale_down_blocker"`
	InterruptionNotice *time.Time `json:"interruption_notice"`
}

// timeOrNull is t in UTC, or nil when t is zero.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// strOrNull is s, or nil when s is empty.
func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// numOrNull is v, or nil when v is NaN or infinite (a missing reading).
func numOrNull(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// orEmpty is s, or an empty list when s is nil: a list in the format is
// never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// toJSON turns the report into its stable JSON form.
func (r statusReport) toJSON() statusJSON {
	out := statusJSON{
		Cluster: r.Cluster, Table: r.Table, Now: timeOrNull(r.Now), Unknown: r.Unknown,
		NodeCount: r.NodeCount, LastScaleUp: timeOrNull(r.LastScaleUp), LastScaleDown: timeOrNull(r.LastDown),
		SafetyMode: r.SafetyMode, Missing: orEmpty(r.Missing), Last: []recordJSON{}, Fleet: []instanceJSON{},
		Zones: r.Zones, Orphans: orEmpty(r.Orphans), NodesError: strOrNull(r.NodesError),
		Lock: lockJSON{Owner: strOrNull(r.Lock.Owner), Expires: timeOrNull(r.Lock.Expires), Token: r.Lock.Token, Held: r.Lock.Held},
	}
	if out.Zones == nil {
		out.Zones = map[string]int{}
	}
	if u := r.Lock.LastUnlock; u != nil {
		out.Lock.LastUnlock = &unlockJSON{By: u.By, At: timeOrNull(u.At), Owner: u.Owner, Token: u.Token, Expires: timeOrNull(u.Expires), Forced: u.Forced}
	}
	if p := r.Paused; p != nil {
		out.Paused = &pauseJSON{By: p.By, At: timeOrNull(p.At), Reason: p.Reason}
	}
	if op := r.Operation; op != nil {
		out.Operation = &operationJSON{ID: op.ID, Kind: string(op.Kind), Count: op.Count, NodeName: strOrNull(op.NodeName),
			InstanceID: strOrNull(op.InstanceID), Phase: strOrNull(op.Phase), Started: timeOrNull(op.Started),
			Attempts: op.Attempts, Replacing: orEmpty(op.Replacing), Zones: orEmpty(op.Zones)}
	}
	for _, rec := range r.Last {
		out.Last = append(out.Last, toRecordJSON(rec))
	}
	for _, f := range r.Fleet {
		out.Fleet = append(out.Fleet, instanceJSON{ID: f.ID, Zone: strOrNull(f.Zone), Market: string(f.Market),
			InstanceType: f.InstanceType, State: string(f.State), LaunchTime: timeOrNull(f.LaunchTime),
			PrivateIP: strOrNull(f.PrivateIP), Node: strOrNull(f.Node), Ready: f.Ready,
			ScaleDownBlocker: strOrNull(f.Blocker), InterruptionNotice: timeOrNull(f.InterruptionNotice)})
	}
	return out
}

func toRecordJSON(rec autoscaler.Record) recordJSON {
	out := recordJSON{Time: timeOrNull(rec.Time), CPU: numOrNull(rec.CPU), Memory: numOrNull(rec.Memory),
		PendingPods: numOrNull(rec.PendingPods), Custom: map[string]*float64{}, Nodes: rec.Nodes, Instances: rec.Instances,
		Action: string(rec.Action), Count: rec.Count, Safety: rec.Safety, Hold: strOrNull(string(rec.Hold)),
		DryRun: rec.DryRun, Would: orEmpty(rec.Would)}
	for _, k := range slices.Sorted(maps.Keys(rec.Custom)) {
		out.Custom[k] = numOrNull(rec.Custom[k])
	}
	if rec.ForecastMethod != "" {
		out.ForecastMethod = strOrNull(rec.ForecastMethod)
		out.ForecastNodes, out.ForecastHeadroom = numOrNull(rec.ForecastNodes), numOrNull(rec.ForecastHeadroom)
		if rec.ForecastLead != 0 {
			out.ForecastLead = &rec.ForecastLead
		}
	}
	if n, ok := rec.ShadowDesired(); ok {
		out.ShadowDesired = &n
	}
	return out
}
