// Package scrape publishes the autoscaler's own metrics for a Prometheus
// scrape: Publisher is an autoscaler.Publisher that keeps each tick's
// Result as node_fleet_* metrics on a prometheus.Registerer it is given
// (never the global one). The daemon (run/daemon) serves them on
// /metrics; deploy/monitoring's alerting rules and Grafana dashboard read
// them.
//
// It is a package of its own, under notify/ (the autoscaler's output to
// people and dashboards) rather than in notify itself, so that the
// Lambda function, which imports notify for SNS and CloudWatch, does not
// link the Prometheus client library it has no use for.
package scrape
