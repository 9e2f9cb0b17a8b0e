package config_test

import (
	"fmt"

	"github.com/node-fleet/node-fleet/config"
)

// A Lambda function's environment with two mistakes: both are named in
// the one message Load returns.
func ExampleLoad() {
	env := map[string]string{
		"CLUSTER_ID":         "shop",
		"PROMETHEUS_URL":     "http://10.0.1.10:30090",
		"DYNAMODB_TABLE":     "shop-cluster-state",
		"SUBNET_IDS":         "subnet-0123456789abcdef0",
		"LAUNCH_TEMPLATE_ID": "lt-0123456789abcdef0",
		"KUBECONFIG_SECRET":  "shop/kubeconfig",
		"MIN_NODES":          "4",
		"MAX_NODES":          "3",
		"SPOT_STRATEGY":      "cheapest",
	}
	_, err := config.Load(config.Lambda, func(k string) string { return env[k] }, nil, nil)
	fmt.Println(err)

	env["MAX_NODES"], env["SPOT_STRATEGY"] = "8", "spot-first"
	cfg, err := config.Load(config.Lambda, func(k string) string { return env[k] }, nil, nil)
	fmt.Println(cfg.MinNodes, cfg.MaxNodes, cfg.Strategy, cfg.NodeSelector, err)
	// Output:
	// configuration: SPOT_STRATEGY="cheapest": unknown value; want spot-share, spot-first or on-demand; MIN_NODES (4) must not exceed MAX_NODES (3)
	// 4 8 spot-first node-fleet.io/cluster=shop <nil>
}
