package prometheusconfig_test

import (
	"fmt"

	"github.com/prometheus/common/config"

	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/metrics/prometheusconfig"
)

// A source whose connection is configured the way Prometheus configures
// its own: basic auth with the password in a mounted secret. Mistakes are
// reported in the YAML's spelling.
func ExampleClient() {
	hc := config.DefaultHTTPClientConfig
	hc.BasicAuth = &config.BasicAuth{Username: "fleet", PasswordFile: "/run/secrets/prometheus-password"}
	client, err := prometheusconfig.Client(hc)
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := metrics.NewPrometheus(metrics.Config{URL: "https://prometheus.example.com", HTTPClient: client})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	fmt.Println(len(src.Queries()), "queries")

	hc.BearerToken = "s3cret"
	_, err = prometheusconfig.Client(hc)
	fmt.Println(err)
	// Output:
	// 5 queries
	// prometheus http client config: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured
}
