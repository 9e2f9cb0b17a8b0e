package sim_test

import (
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/sim"
)

// FuzzParseTrace: any bytes give a trace or an error naming the source;
// nothing panics.
func FuzzParseTrace(f *testing.F) {
	f.Add("time,count\n2026-01-01T00:00:00Z,10\n2026-01-01T00:01:00Z,12\n")
	f.Add("time,count\n2026-01-01T00:00:00Z,10\n2026-01-01T00:00:00Z,12\n")
	f.Add("time,count\n2026-01-01T00:00:00Z,-1\n")
	f.Add("time,count\n0,1\n60,NaN\n")
	f.Add("")
	f.Add("\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := sim.ParseTrace(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.csv") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		_ = tr
	})
}
