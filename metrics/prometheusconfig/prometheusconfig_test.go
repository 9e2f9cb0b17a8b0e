package prometheusconfig_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/metrics/prometheusconfig"
)

// server answers every query with 1, evaluated now (the source refuses
// stale answers by the real clock), and remembers the Authorization header.
func server(t *testing.T) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var got atomic.Value
	got.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"scalar","result":[%.3f,"1"]}}`,
			float64(time.Now().UnixMilli())/1000)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// collect runs one CPU query through a source using client.
func collect(t *testing.T, url string, client *http.Client) error {
	t.Helper()
	src, err := metrics.NewPrometheus(metrics.Config{URL: url, HTTPClient: client,
		Memory: metrics.Query{Disabled: true}, PendingPods: metrics.Query{Disabled: true}, APILatency: metrics.Query{Disabled: true}})
	if err != nil {
		return err
	}
	defer src.Close()
	snap, err := src.Collect(context.Background())
	if err != nil {
		return err
	}
	if !snap.CPU.OK {
		return snap.CPU.Err
	}
	return nil
}

func TestClientSendsCredentials(t *testing.T) {
	with := func(edit func(*config.HTTPClientConfig)) config.HTTPClientConfig {
		hc := config.DefaultHTTPClientConfig
		edit(&hc)
		return hc
	}
	tests := []struct {
		name string
		hc   config.HTTPClientConfig
		want string
	}{
		{"bearer", with(func(hc *config.HTTPClientConfig) { hc.BearerToken = "s3cret" }), "Bearer s3cret"},
		{"basic", with(func(hc *config.HTTPClientConfig) { hc.BasicAuth = &config.BasicAuth{Username: "fleet", Password: "pw"} }),
			"Basic " + base64.StdEncoding.EncodeToString([]byte("fleet:pw"))},
		{"authorization", with(func(hc *config.HTTPClientConfig) {
			hc.Authorization = &config.Authorization{Type: "Token", Credentials: "abc"}
		}), "Token abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := server(t)
			client, err := prometheusconfig.Client(tc.hc)
			if err != nil {
				t.Fatal(err)
			}
			if err := collect(t, srv.URL, client); err != nil {
				t.Fatal(err)
			}
			if got.Load() != tc.want {
				t.Errorf("Authorization %q, want %q", got.Load(), tc.want)
			}
		})
	}
}

func TestClientRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		hc   config.HTTPClientConfig
		want string
	}{
		{"basic auth and bearer", config.HTTPClientConfig{BasicAuth: &config.BasicAuth{Username: "u"}, BearerToken: "t"}, "at most one of basic_auth"},
		{"basic authorization type", config.HTTPClientConfig{Authorization: &config.Authorization{Type: "Basic", Credentials: "x"}}, `"basic"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prometheusconfig.Client(tc.hc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Client: %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestClientFromFile(t *testing.T) {
	srv, got := server(t)
	dir := t.TempDir()
	// The token file is named relative to the config file's directory.
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("filed"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "http.yml")
	if err := os.WriteFile(file, []byte("authorization:\n  credentials_file: token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := prometheusconfig.ClientFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := collect(t, srv.URL, client); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "Bearer filed" {
		t.Errorf("Authorization %q, want %q", got.Load(), "Bearer filed")
	}

	if err := os.WriteFile(file, []byte("bearer_tokn: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prometheusconfig.ClientFromFile(file); err == nil || !strings.Contains(err.Error(), "bearer_tokn") {
		t.Errorf("ClientFromFile with a misspelt key: %v; want an error naming it", err)
	}
}
