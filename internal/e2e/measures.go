package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// Measures are a run's numbers, the comparison's columns. Durations are
// from the sale's start unless said otherwise; -1 when the thing never
// happened.
type Measures struct {
	// FirstPending is when the first pod was seen unschedulable.
	FirstPending time.Duration
	// FirstLaunch is when the first instance (or NodeClaim) of the sale
	// was seen, negative when it came before the sale (the calendar);
	// Launched says there was one.
	FirstLaunch time.Duration
	Launched    bool
	// PendingToLaunch is FirstLaunch less FirstPending (-1 without
	// pending pods).
	PendingToLaunch time.Duration
	// AllRunning is when every pod of the sale was Ready.
	AllRunning time.Duration
	// PendingPodSeconds sums, over the sale's pods, the time from their
	// creation to their binding to a node.
	PendingPodSeconds float64
	// PeakNodes is the most Ready workers at once.
	PeakNodes int
	// NodeSeconds integrates the Ready workers from the baseline to the
	// end of the run (the cost).
	NodeSeconds float64
	// Evicted counts the autoscaler's successful evictions; Refused those
	// the API server refused (429: a budget).
	Evicted, Refused int
	// Bypasses counts pods the autoscaler deleted without the Eviction
	// API; MaxUnavailable is the most replicas of one Deployment
	// unavailable at once during the scale-down.
	Bypasses, MaxUnavailable int
	// BackToBaseline is from the sale's end to the workers back at the
	// floor.
	BackToBaseline time.Duration
	// UnplaceableLaunches counts launches while only the unplaceable pod
	// was pending; UnplaceableReported says the autoscaler's log names
	// it as such.
	UnplaceableLaunches int
	UnplaceableReported bool
	// ScaleDowns counts workers removed after the sale.
	ScaleDowns int
	// Zones are the zones of the sale's instances.
	Zones []string
	// ZoneWorkers counts the Ready workers by zone once the sale is
	// steady (nil when the run did not get there).
	ZoneWorkers map[string]int
	// MaxFleet is the most instances (NodeClaims) at once.
	MaxFleet int
	// MinWorkersAfterBaseline is the fewest Ready workers once the
	// baseline was reached.
	MinWorkersAfterBaseline int
	// UndeletedNodes counts workers removed after the sale whose Node the
	// autoscaler did not delete itself.
	UndeletedNodes int
	// BoundBeforeReady counts pods bound to a worker before the recorder
	// saw it Ready.
	BoundBeforeReady int
}

// auditEvent is the part of an audit.k8s.io/v1 Event read here.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// Audit counts, from the API server's audit log, what user did to pods
// and nodes: successful and refused evictions, pod deletions (which by
// the autoscaler bypass the budgets) and the Nodes it deleted.
func Audit(t testing.TB, path, user string) (evicted, refused, deletes int, nodesDeleted map[string]bool) {
	t.Helper()
	nodesDeleted = map[string]bool{}
	auditBy(t, path, user, func(ev auditEvent) {
		switch {
		case ev.Verb == "create" && ev.ObjectRef.Resource == "pods" && ev.ObjectRef.Subresource == "eviction":
			switch {
			case ev.ResponseStatus.Code < 300:
				evicted++
			case ev.ResponseStatus.Code == 429:
				refused++
			}
		case ev.Verb == "delete" && ev.ObjectRef.Resource == "pods" && ev.ObjectRef.Subresource == "":
			deletes++
		case ev.Verb == "delete" && ev.ObjectRef.Resource == "nodes" && ev.ResponseStatus.Code < 300:
			nodesDeleted[ev.ObjectRef.Name] = true
		}
	})
	return evicted, refused, deletes, nodesDeleted
}

// Evictions returns the pods (namespace/name) whose eviction by user the
// API server accepted, from its audit log.
func Evictions(t testing.TB, path, user string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	auditBy(t, path, user, func(ev auditEvent) {
		if ev.Verb == "create" && ev.ObjectRef.Subresource == "eviction" && ev.ResponseStatus.Code < 300 {
			out[ev.ObjectRef.Namespace+"/"+ev.ObjectRef.Name] = true
		}
	})
	return out
}

// auditBy calls each with every completed request of user in the audit
// log at path.
func auditBy(t testing.TB, path, user string, each func(auditEvent)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev auditEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" || ev.User.Username != user {
			continue
		}
		each(ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// measure computes the Measures of the run from the recorder and the
// audit log.
func (e *env) measure(t testing.TB, zero time.Time) Measures {
	t.Helper()
	r := e.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	since := func(at time.Time) time.Duration {
		if at.IsZero() || zero.IsZero() {
			return -1
		}
		return at.Sub(zero)
	}
	m := Measures{FirstPending: -1, FirstLaunch: -1, PendingToLaunch: -1, AllRunning: -1, BackToBaseline: -1,
		PeakNodes: r.maxNodes, MaxFleet: r.maxFleet, MinWorkersAfterBaseline: r.minWorkers, ZoneWorkers: e.saleZones, BoundBeforeReady: r.boundEarly}
	baseline, end := r.marks["baseline reached"], r.marks["end"]
	allRunning, over := r.marks["all pods running"], r.marks[saleOverMark(r.marks)]
	var firstPending, firstLaunch time.Time
	for _, pt := range r.pods {
		if pt.app == "" || zero.IsZero() || pt.created.Before(zero) {
			continue
		}
		if !pt.unschedulable.IsZero() && (firstPending.IsZero() || pt.unschedulable.Before(firstPending)) {
			firstPending = pt.unschedulable
		}
		if allRunning.IsZero() || !pt.created.Before(allRunning) {
			continue
		}
		bound := pt.scheduled
		if bound.IsZero() || bound.After(allRunning) {
			bound = allRunning
		}
		m.PendingPodSeconds += bound.Sub(pt.created).Seconds()
	}
	// The sale's launches: from the moment the baseline's cooldowns
	// passed (and the calendar mode's daemon was redeployed).
	saleFrom := r.marks["cooldowns passed"]
	zones := map[string]bool{}
	for id, at := range r.launches {
		if saleFrom.IsZero() || at.Before(saleFrom) {
			continue
		}
		if firstLaunch.IsZero() || at.Before(firstLaunch) {
			firstLaunch = at
		}
		if z, ok := r.zones[id]; ok {
			zones[z] = true
		}
	}
	for z := range zones {
		m.Zones = append(m.Zones, z)
	}
	sort.Strings(m.Zones)
	m.FirstPending, m.FirstLaunch, m.AllRunning = since(firstPending), since(firstLaunch), since(allRunning)
	m.Launched = !firstLaunch.IsZero()
	if !firstPending.IsZero() && !firstLaunch.IsZero() {
		m.PendingToLaunch = firstLaunch.Sub(firstPending)
	}
	if back := r.marks["workers back to the baseline"]; !back.IsZero() && !over.IsZero() {
		m.BackToBaseline = back.Sub(over)
	}
	for _, nt := range r.nodes {
		if nt.ready.IsZero() || baseline.IsZero() {
			continue
		}
		from, to := nt.ready, nt.gone
		if from.Before(baseline) {
			from = baseline
		}
		if to.IsZero() || to.After(end) {
			to = end
		}
		if to.After(from) {
			m.NodeSeconds += to.Sub(from).Seconds()
		}
	}
	for _, v := range r.maxUnavailable {
		m.MaxUnavailable = max(m.MaxUnavailable, v)
	}
	var nodesDeleted map[string]bool
	m.UnplaceableLaunches, m.UnplaceableReported = e.unplaceableLaunches, e.unplaceableReported
	m.Evicted, m.Refused, m.Bypasses, nodesDeleted = Audit(t, e.cl.AuditLog, e.saUser)
	for name, nt := range r.nodes {
		if !nt.gone.IsZero() && !over.IsZero() && nt.gone.After(over) {
			m.ScaleDowns++
			if !nodesDeleted[name] {
				m.UndeletedNodes++
			}
		}
	}
	return m
}

// saleOverMark finds the name of the "sale over" mark.
func saleOverMark(marks map[string]time.Time) string {
	for k := range marks {
		if strings.HasPrefix(k, "sale over") {
			return k
		}
	}
	return ""
}
