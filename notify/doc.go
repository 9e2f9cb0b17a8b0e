// Package notify sends what the autoscaler has to say to people and to
// dashboards: SNS is an autoscaler.Notifier that publishes each Event to an
// SNS topic (a readable subject, a JSON body, message attributes for
// subscription filters), and CloudWatch is an autoscaler.Publisher that
// puts each tick's Result as CloudWatch metrics named after the original
// design (ClusterCPUUtilization, PendingPodCount, NodeCount,
// EC2LaunchEvents, EC2Terminations, ScalingDecisionHistory,
// ScalingFailures), in batched PutMetricData calls. A dry-running
// autoscaler's decisions go to DryRunDecisions instead, with what it would
// have launched and terminated in DryRunWouldLaunch and
// DryRunWouldTerminate, so that no alarm on the live metrics counts them.
// A tick whose policy forecast demand adds ForecastNodes and
// ForecastHeadroomNodes, and one in forecast-only mode (FORECAST=shadow)
// ShadowDesiredNodes: the nodes the predictive policy would have wanted.
//
// It is a package of its own, and not part of metrics/ or ec2fleet/,
// because it is neither a source of the autoscaler's input nor a part of
// the fleet: it is the autoscaler's output to AWS's notification and
// monitoring services, used by the Lambda program and by anyone who wants
// alerts, and it keeps the SNS and CloudWatch SDKs out of the packages
// that do not need them. The Prometheus side of the autoscaler's own
// metrics, a Publisher that a scrape reads, is Publisher in
// notify/scrape/publisher.go (a package apart, so that the Lambda function
// does not link the Prometheus client).
package notify
