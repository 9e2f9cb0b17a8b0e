package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/node-fleet/node-fleet/metrics"
)

// A Prometheus behind a reverse proxy that wants a bearer token, kept in a
// mounted secret: the file is read for every query, so a rotated token is
// used at once. (For a private CA set TLS.CAFile; for basic auth,
// BasicAuth.) The stand-in server refuses queries without the token.
func ExampleConfig_bearerTokenFile() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"scalar","result":[%d,"41.5"]}}`, time.Now().Unix())
	}))
	defer srv.Close()
	dir, err := os.MkdirTemp("", "token")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	src, err := metrics.NewPrometheus(metrics.Config{
		URL:             srv.URL,
		BearerTokenFile: token,
		Memory:          metrics.Query{Disabled: true}, PendingPods: metrics.Query{Disabled: true}, APILatency: metrics.Query{Disabled: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	snap, err := src.Collect(context.Background())
	fmt.Println("cpu:", snap.CPU, err)

	_, err = metrics.NewPrometheus(metrics.Config{URL: srv.URL, BearerToken: "s3cret", BasicAuth: &metrics.BasicAuth{Username: "fleet"}})
	fmt.Println(err)
	// Output:
	// cpu: 41.5 <nil>
	// metrics.Prometheus config: BasicAuth and BearerToken/BearerTokenFile: set at most one
}
