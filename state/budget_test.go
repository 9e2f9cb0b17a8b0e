package state

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnplaceablePodsAreCappedAndSummarised(t *testing.T) {
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("shop/pod-%d", i)
		}
		return out
	}
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, []string{}},
		{"under the cap", keys(3), keys(3)},
		{"at the cap", keys(MaxUnplaceable), keys(MaxUnplaceable)},
		{"over the cap", keys(MaxUnplaceable + 50), append(keys(MaxUnplaceable-1), UnplaceableSummary(51))},
		{"a key too long", []string{long}, []string{long[:MaxUnplaceableKeyBytes]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, capUnplaceable(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
