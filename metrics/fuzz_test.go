package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// cannedClient is an api.Client that answers every request with one status
// and body, without a network.
type cannedClient struct {
	status int
	body   []byte
}

func (c cannedClient) URL(ep string, _ map[string]string) *url.URL {
	return &url.URL{Scheme: "http", Host: "prometheus.test", Path: ep}
}

func (c cannedClient) Do(_ context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp := &http.Response{StatusCode: c.status, Status: http.StatusText(c.status), Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: req}
	return resp, c.body, nil
}

// FuzzResponse feeds arbitrary answers to the response handling: whatever
// comes back, Collect must not panic, and a reading is either a finite,
// timestamped value or missing with an error wrapping ErrNoData.
func FuzzResponse(f *testing.F) {
	f.Add(200, []byte(vectorBody(t0, "12.5")))
	f.Add(200, []byte(vectorBody(t0, "NaN")))
	f.Add(200, []byte(vectorBody(t0, "1", "2")))
	f.Add(200, []byte(vectorBody(t0)))
	f.Add(200, []byte(fmt.Sprintf(`{"status":"success","data":{"resultType":"scalar","result":[%s,"7"]}}`, promTS(t0))))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"1"}]}]}}`))
	f.Add(200, []byte(`{"status":"error","errorType":"execution","error":"x"}`))
	f.Add(422, []byte(`{"status":"error","errorType":"execution","error":"x"}`))
	f.Add(500, []byte("boom"))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{`))
	f.Add(200, []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		clk := testclock.NewFakeClock(t0)
		queries := []namedQuery{{name: "q", expr: "q", timeout: time.Second, custom: true}}
		p := newPrometheus(cannedClient{status: status, body: body}, Config{Clock: clk, MaxAge: DefaultMaxAge}, queries)
		snap, err := p.Collect(context.Background())
		m, ok := snap.Custom["q"]
		if !ok {
			t.Fatal("no reading for the query")
		}
		if m.OK {
			if err != nil {
				t.Errorf("reading present but Collect failed: %v", err)
			}
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				t.Errorf("non-finite value %v read as present", m.Value)
			}
			if age := clk.Since(m.At); age > DefaultMaxAge || -age > DefaultMaxAge {
				t.Errorf("stale reading (at %s) read as present", m.At)
			}
			return
		}
		if !errors.Is(m.Err, autoscaler.ErrNoData) || m.Value != 0 {
			t.Errorf("missing reading: value %v, err %v; want 0 and ErrNoData", m.Value, m.Err)
		}
		if err == nil || !errors.Is(err, autoscaler.ErrNoData) {
			t.Errorf("the only query failed but Collect returned %v", err)
		}
	})
}
