package state

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/node-fleet/node-fleet/autoscaler"
)

func TestHistoryBounds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var h []autoscaler.Record
	for i := range 100 {
		h = append(h, autoscaler.Record{Time: t0.Add(time.Duration(i) * time.Minute), CPU: float64(i), Memory: math.NaN(), PendingPods: 1, Action: autoscaler.Hold})
	}
	one, err := encodeHistory(h[50:51], 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	per := len(one) - 2 // bytes of one record (the newest records all encode to this length)
	for _, tc := range []struct {
		name         string
		limit, bytes int
		wantFirst    int // index in h of the oldest record kept
	}{
		{"count limit", 10, 1 << 20, 90},
		{"byte limit", 1000, 1 + 5*(per+1), 95},
		{"both, bytes tighter", 10, 1 + 3*(per+1), 97},
		{"no room", 10, 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := encodeHistory(h, tc.limit, tc.bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > max(tc.bytes, 2) {
				t.Errorf("encoded %d bytes, limit %d", len(s), tc.bytes)
			}
			got, err := decodeHistory(s)
			if err != nil {
				t.Fatal(err)
			}
			want := h[tc.wantFirst:]
			if len(want) == 0 {
				want = nil
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("kept records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryKeepsMissingReadingsMissing(t *testing.T) {
	in := []autoscaler.Record{{CPU: math.NaN(), Memory: math.Inf(1), PendingPods: 0, Custom: map[string]float64{"q": math.NaN(), "r": 0}}}
	s, err := encodeHistory(in, 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	// A zero reading stays zero; a missing one (NaN, and Inf, which JSON
	// cannot carry) comes back missing, never as 0.
	r := got[0]
	if !math.IsNaN(r.CPU) || !math.IsNaN(r.Memory) || r.PendingPods != 0 || !math.IsNaN(r.Custom["q"]) || r.Custom["r"] != 0 {
		t.Errorf("decoded %+v", r)
	}
}

// A dry-run tick's record keeps its mark and its would-be steps through
// the store, so that `nodefleet history` can show them.
func TestHistoryKeepsDryRunRecords(t *testing.T) {
	in := []autoscaler.Record{
		{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), CPU: 10, Memory: 20, PendingPods: 3, Action: autoscaler.Hold,
			DryRun: true, Would: []string{"launch 3", "terminate-ghost i-0abc"}},
		{Time: time.Date(2026, 3, 1, 0, 2, 0, 0, time.UTC), CPU: 10, Memory: 20, PendingPods: 0, Action: autoscaler.ScaleUp, Count: 1},
	}
	s, err := encodeHistory(in, 10, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("decoded history (-want +got):\n%s", diff)
	}
}

// The forecast and the forecast-only decision are kept through the
// store, the forecast to a thousandth of a node, the shadow's decision
// as the nodes it wanted; a record without them stays without.
func TestHistoryKeepsTheForecastAndTheForecastOnlyDecision(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := func(nodes int, method string, f, h float64, a autoscaler.Action, n int) autoscaler.Record {
		return autoscaler.Record{Time: at, CPU: 10, Memory: 20, PendingPods: 0, Nodes: nodes, Action: autoscaler.Hold,
			ForecastMethod: method, ForecastNodes: f, ForecastHeadroom: h, ShadowAction: a, ShadowCount: n}
	}
	for _, tc := range []struct {
		name    string
		in      autoscaler.Record
		want    autoscaler.Record
		encoded string // in the stored record
	}{
		{"none", rec(3, "", 0, 0, "", 0), rec(3, "", 0, 0, "", 0), `"n":3,"a":"hold"}`},
		{"a forecast, rounded", rec(3, "seasonal naive (day)", 3.14159, 0.6666, "", 0), rec(3, "seasonal naive (day)", 3.142, 0.667, "", 0),
			`"fm":"seasonal naive (day)","f":3.142,"fh":0.667}`},
		{"naive: no headroom written", rec(3, "naive", 2, 0, autoscaler.Hold, 0), rec(3, "naive", 2, 0, autoscaler.Hold, 0), `"fm":"naive","f":2,"sd":3}`},
		{"a forecast-only scale-up", rec(3, "damped trend", 5.5, 1, autoscaler.ScaleUp, 4), rec(3, "damped trend", 5.5, 1, autoscaler.ScaleUp, 4), `"sd":7}`},
		{"a forecast-only scale-down", rec(3, "", 0, 0, autoscaler.ScaleDown, 2), rec(3, "", 0, 0, autoscaler.ScaleDown, 2), `"a":"hold","sd":1}`},
		{"a forecast-only scale-down to none", rec(2, "naive", 0, 0, autoscaler.ScaleDown, 2), rec(2, "naive", 0, 0, autoscaler.ScaleDown, 2), `"f":0,"sd":0}`},
		{"a forecast not a number", rec(3, "naive", math.NaN(), 0, "", 0), rec(3, "naive", math.NaN(), 0, "", 0), `"fm":"naive"}`},
		{"the lead it was made for, in seconds", withLead(rec(3, "naive", 2, 0, "", 0), 15*time.Minute), withLead(rec(3, "naive", 2, 0, "", 0), 15*time.Minute),
			`"fm":"naive","f":2,"fl":900}`},
		{"a lead without a forecast: none", withLead(rec(3, "", 0, 0, "", 0), 15*time.Minute), rec(3, "", 0, 0, "", 0), `"n":3,"a":"hold"}`},
		{"a forecast too large to round, kept as it is", rec(3, "mine", math.MaxFloat64, -math.MaxFloat64, "", 0), rec(3, "mine", math.MaxFloat64, -math.MaxFloat64, "", 0),
			`"fm":"mine","f":1.7976931348623157e+308,"fh":-1.7976931348623157e+308}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := encodeHistory([]autoscaler.Record{tc.in}, 10, 10000)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(s, tc.encoded+"]") {
				t.Errorf("stored %s, want it to end %s", s, tc.encoded)
			}
			got, err := decodeHistory(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]autoscaler.Record{tc.want}, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func withLead(r autoscaler.Record, lead time.Duration) autoscaler.Record {
	r.ForecastLead = lead
	return r
}

// A day of 2-minute ticks in forecast-only mode, each with the readings,
// the scheduler's demand, the longest method name the forecaster gives
// and a shadow decision, fits the default history budget whole: the
// forecast fields do not cost the predictive policy its day.
func TestADayOfForecastOnlyRecordsFitsTheDefaultHistoryBudget(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var day []autoscaler.Record
	for i := range 720 {
		day = append(day, autoscaler.Record{Time: at.Add(time.Duration(i) * 2 * time.Minute), CPU: 55.12345678901234, Memory: 66.65432109876543, PendingPods: 12,
			Custom: map[string]float64{autoscaler.MetricDemand: 23.456789012345678}, Nodes: 240, Instances: 250, Action: autoscaler.ScaleUp, Count: 10,
			ForecastMethod: "seasonal change (week)", ForecastNodes: 25.123456789, ForecastHeadroom: 1.23456789, ForecastLead: 7 * time.Minute, ShadowAction: autoscaler.ScaleUp, ShadowCount: 12})
	}
	const defaultMaxHistoryBytes = 160_000 // DynamoConfig.MaxHistoryBytes's default
	s, err := encodeHistory(day, 720, defaultMaxHistoryBytes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a day of forecast-only records: %d bytes, %d per record", len(s), len(s)/720)
	if len(got) != 720 {
		t.Errorf("%d of 720 records kept in %d bytes", len(got), defaultMaxHistoryBytes)
	}
}

// A method the record before has already is not written again, and comes
// back on every record, the first one kept when the oldest gave way to
// the byte limit included.
func TestHistoryWritesARepeatedForecastMethodOnce(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var h []autoscaler.Record
	for i, m := range []string{"damped trend", "damped trend", "damped trend", "", "damped trend", "naive", "naive", "naive"} {
		r := autoscaler.Record{Time: at.Add(time.Duration(i) * time.Minute), CPU: 1, Memory: 1, PendingPods: 0, Nodes: 2, Action: autoscaler.Hold, ForecastMethod: m}
		if m != "" {
			r.ForecastNodes = float64(i)
		}
		h = append(h, r)
	}
	s := roundTrips(t, h)
	if n := strings.Count(s, `"fm"`); n != 3 {
		t.Errorf("the method written %d times, want 3 (where it changes): %s", n, s)
	}
	// Room for the last two records and a method: the oldest kept writes it.
	keepsTheTailWhole(t, h, 6)
}

// roundTrips checks that h comes back whole through the store and
// returns its encoding.
func roundTrips(t *testing.T, h []autoscaler.Record) string {
	t.Helper()
	s, err := encodeHistory(h, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	return s
}

// keepsTheTailWhole checks that h, encoded within the bytes h[from:]
// takes on its own, comes back as h[from:]: the oldest record kept
// written whole.
func keepsTheTailWhole(t *testing.T, h []autoscaler.Record, from int) {
	t.Helper()
	tail, err := encodeHistory(h[from:], 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	s, err := encodeHistory(h, 0, len(tail))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h[from:], got); diff != "" {
		t.Errorf("decoded within %d bytes (-want +got):\n%s", len(tail), diff)
	}
}

// A lead the record before has already is not written again, a lead
// that changes is (0 included: the record before's no longer holds),
// and every record comes back with its own, the first one kept when the
// oldest gave way to the byte limit included.
func TestHistoryWritesARepeatedForecastLeadOnce(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var h []autoscaler.Record
	for i, lead := range []time.Duration{15 * time.Minute, 15 * time.Minute, 0, 0, 7 * time.Minute, -1, 7 * time.Minute, 7 * time.Minute} {
		r := autoscaler.Record{Time: at.Add(time.Duration(i) * time.Minute), CPU: 1, Memory: 1, PendingPods: 0, Nodes: 2, Action: autoscaler.Hold,
			ForecastMethod: "naive", ForecastNodes: float64(i), ForecastLead: lead}
		if lead < 0 { // a record without a forecast between two with the same lead
			r.ForecastMethod, r.ForecastNodes, r.ForecastLead = "", 0, 0
		}
		h = append(h, r)
	}
	s := roundTrips(t, h)
	if got, want := strings.Count(s, `"fl"`), 4; got != want {
		t.Errorf("the lead written %d times, want %d (15m, 0, 7m, 7m after a record without a forecast): %s", got, want, s)
	}
	// Room for the last two records and a lead: the oldest kept writes it.
	keepsTheTailWhole(t, h, 6)
}

// Random histories of forecasts whose method and lead change now and
// then, records without a forecast between them, come back whole when
// they fit and, within any byte limit, as their newest records, each
// with its own method and lead: what the record before said is never
// read into the first record kept.
func TestHistoryRoundTripsRandomForecastMethodsAndLeads(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	methods := []string{"", "naive", "damped trend", "seasonal naive (day)"}
	leads := []time.Duration{0, 7 * time.Minute, 15 * time.Minute, 90 * time.Second, 1500 * time.Millisecond}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var h []autoscaler.Record
		method, lead := methods[rng.IntN(len(methods))], leads[rng.IntN(len(leads))]
		for i := range 1 + rng.IntN(30) {
			if rng.IntN(4) == 0 {
				method = methods[rng.IntN(len(methods))]
			}
			if rng.IntN(4) == 0 {
				lead = leads[rng.IntN(len(leads))]
			}
			r := autoscaler.Record{Time: at.Add(time.Duration(i) * time.Minute), CPU: float64(rng.IntN(100)), Memory: 1, PendingPods: 0, Nodes: 2, Action: autoscaler.Hold}
			if method != "" {
				r.ForecastMethod, r.ForecastNodes, r.ForecastHeadroom, r.ForecastLead = method, float64(rng.IntN(9000))/1000, float64(rng.IntN(3)), lead
				if rng.IntN(10) == 0 {
					r.ForecastNodes = math.NaN()
				}
			}
			h = append(h, r)
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			all, err := encodeHistory(h, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeHistory(all)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(h, got, cmpopts.EquateNaNs()); diff != "" {
				t.Fatalf("decoded %s (-want +got):\n%s", all, diff)
			}
			limit := 2 + rng.IntN(len(all))
			s, err := encodeHistory(h, 0, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > limit {
				t.Errorf("%d bytes encoded within a limit of %d", len(s), limit)
			}
			if got, err = decodeHistory(s); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(h[len(h)-len(got):], got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded within %d bytes %s (-want +got):\n%s", limit, s, diff)
			}
		})
	}
}

// Every short key a stored record can have is named in doc.go's
// section on the history's records.
func TestEveryStoredRecordKeyIsDocumented(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start, end := strings.Index(doc, "# The history's records"), strings.Index(doc, "# Locking")
	if start < 0 || end < start {
		t.Fatalf("doc.go has no section on the history's records before the one on locking")
	}
	section := doc[start:end]
	typ := reflect.TypeOf(wireRecord{})
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `\b`).MatchString(section) {
			t.Errorf("doc.go does not name the key %q (%s)", key, typ.Field(i).Name)
		}
	}
}
