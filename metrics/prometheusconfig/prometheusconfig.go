// Package prometheusconfig builds the HTTP client of a metrics.Prometheus
// source from Prometheus' own client configuration
// (github.com/prometheus/common/config: the http_config block of a
// Prometheus scrape or remote-write configuration), for users who want what
// metrics.Config does not offer itself: OAuth2, proxy settings per
// connection, custom headers, HTTP/2 switched off, and the rest.
//
// It is a package of its own so that programs which do not import it do not
// link prometheus/common/config. That package pulls in go-conntrack,
// golang.org/x/net/trace and so html/template, whose reflective method
// calls turn off the linker's dead code elimination of methods: with it the
// example Lambda function was 87 MB, without it about a quarter of that (see
// docs/benchmarks.md). The Lambda function does not import this package; a
// daemon may.
//
//	hc := config.DefaultHTTPClientConfig
//	hc.OAuth2 = &config.OAuth2{ClientID: ..., ClientSecretFile: ..., TokenURL: ...}
//	client, err := prometheusconfig.Client(hc)
//	...
//	src, err := metrics.NewPrometheus(metrics.Config{URL: url, HTTPClient: client})
package prometheusconfig

import (
	"fmt"
	"net/http"

	"github.com/prometheus/common/config"
)

// Client validates hc and returns config.NewClientFromConfig of it, for
// metrics.Config.HTTPClient. Start from config.DefaultHTTPClientConfig: a
// zero HTTPClientConfig follows no redirects and does not use HTTP/2.
// Errors are the library's, which name the settings in Prometheus' YAML
// spelling (basic_auth, bearer_token...).
func Client(hc config.HTTPClientConfig) (*http.Client, error) {
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus http client config: %w", err)
	}
	c, err := config.NewClientFromConfig(hc, "node-fleet-metrics")
	if err != nil {
		return nil, fmt.Errorf("prometheus http client config: %w", err)
	}
	return c, nil
}

// ClientFromFile reads an http_config block in YAML (the format of
// Prometheus' own configuration files; relative file names in it are
// relative to the file's directory) and returns Client of it.
func ClientFromFile(file string) (*http.Client, error) {
	hc, _, err := config.LoadHTTPConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("prometheus http client config %s: %w", file, err)
	}
	return Client(*hc)
}
