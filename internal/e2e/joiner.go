package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// JoinerConfig configures a Joiner.
type JoinerConfig struct {
	// EC2 and Kube are the emulated cloud and the control plane.
	EC2  *ec2.Client
	Kube kubernetes.Interface
	// ClusterID selects the instances (tags node-fleet.io/cluster and
	// node-fleet.io/managed-by, as the autoscaler's fleet).
	ClusterID string
	// BootDelay is how long after an instance is first seen running its
	// Node registers: EC2's boot plus the join script plus K3s's agent
	// start, compressed.
	BootDelay time.Duration
	// NeverJoin is the share of instances (0 to 1) that never register:
	// a broken AMI, a join script that fails. Every round(1/NeverJoin)-th
	// instance, so that runs are repeatable.
	NeverJoin float64
	// CPU and Memory are the worker's capacity (a t3.medium by default:
	// 2 and 4 GiB less the 5% the kernel keeps); Allocatable is that less
	// the kubelet's 100Mi eviction threshold, as K3s leaves it.
	CPU, Memory string
	// NodeGone is how long the Node of a terminated instance is left
	// before the joiner deletes it (if the autoscaler did not); default
	// 30s.
	NodeGone time.Duration
	// Labels are added to every Node it registers (LabelBooting).
	Labels map[string]string
	// Poll is how often EC2 is read; default 250ms.
	Poll time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Joiner plays EC2's boot and provision/worker-join.sh for the instances the
// autoscaler launches in moto: each running instance registers a Node
// after the boot delay, named after its private DNS name's host part (the
// instance's hostname, which K3s uses) with K3s's providerID
// k3s://<hostname>, the join script's labels (node-fleet.io/instance-id,
// node-fleet.io/cluster) and those the kubelet and K3s set. kwok then
// plays its kubelet (Ready, heartbeats, pods Running). The Node of a
// terminated instance is deleted NodeGone later if the autoscaler left it.
type Joiner struct {
	cfg JoinerConfig

	mu     sync.Mutex
	seen   map[string]time.Time // instance id: first seen running
	joined map[string]string    // instance id: node name
	never  map[string]bool
	gone   map[string]time.Time // instance id: first seen terminated
	count  int
}

// NewJoiner checks cfg and fills in the defaults.
func NewJoiner(cfg JoinerConfig) (*Joiner, error) {
	if cfg.EC2 == nil || cfg.Kube == nil || cfg.ClusterID == "" {
		return nil, fmt.Errorf("e2e: JoinerConfig needs EC2, Kube and ClusterID")
	}
	if cfg.NeverJoin < 0 || cfg.NeverJoin > 1 {
		return nil, fmt.Errorf("e2e: NeverJoin %v not within 0 and 1", cfg.NeverJoin)
	}
	if cfg.CPU == "" {
		cfg.CPU = "2"
	}
	if cfg.Memory == "" {
		cfg.Memory = "3891Mi"
	}
	if cfg.NodeGone == 0 {
		cfg.NodeGone = 30 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Joiner{cfg: cfg, seen: map[string]time.Time{}, joined: map[string]string{}, never: map[string]bool{}, gone: map[string]time.Time{}}, nil
}

// Run joins and removes nodes until ctx ends.
func (j *Joiner) Run(ctx context.Context) {
	t := time.NewTicker(j.cfg.Poll)
	defer t.Stop()
	for {
		if err := j.step(ctx); err != nil && ctx.Err() == nil {
			j.cfg.Logger.Warn("joiner", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Never returns the instances that were chosen never to join.
func (j *Joiner) Never() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for id := range j.never {
		out = append(out, id)
	}
	return out
}

func (j *Joiner) step(ctx context.Context) error {
	var instances []ec2types.Instance
	p := ec2.NewDescribeInstancesPaginator(j.cfg.EC2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{j.cfg.ClusterID}},
		{Name: aws.String("tag-key"), Values: []string{ec2fleet.TagManagedBy}},
	}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, r := range out.Reservations {
			instances = append(instances, r.Instances...)
		}
	}
	now := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, in := range instances {
		id := aws.ToString(in.InstanceId)
		switch in.State.Name {
		case ec2types.InstanceStateNameRunning, ec2types.InstanceStateNamePending:
			first, ok := j.seen[id]
			if !ok {
				j.seen[id], first = now, now
				j.count++
				if j.cfg.NeverJoin > 0 && int(float64(j.count)*j.cfg.NeverJoin) > int(float64(j.count-1)*j.cfg.NeverJoin) {
					j.never[id] = true
				}
			}
			if _, done := j.joined[id]; done || j.never[id] || now.Sub(first) < j.cfg.BootDelay {
				continue
			}
			name, err := j.register(ctx, in)
			if err != nil {
				j.cfg.Logger.Warn("join", "instance", id, "err", err)
				continue
			}
			j.joined[id] = name
		default:
			name, ok := j.joined[id]
			if !ok {
				continue
			}
			// The autoscaler deletes the Node of an instance it
			// terminates; one left behind goes after NodeGone (kwok
			// would keep it Ready).
			if _, ok := j.gone[id]; !ok {
				j.gone[id] = now
			}
			if now.Sub(j.gone[id]) < j.cfg.NodeGone {
				continue
			}
			err := j.cfg.Kube.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				j.cfg.Logger.Warn("remove node", "node", name, "err", err)
				continue
			}
			delete(j.joined, id)
		}
	}
	return nil
}

// Hostname is the hostname an EC2 instance boots with (the host part of
// its private DNS name, ip-10-0-1-5), which K3s uses as the Node's name.
func Hostname(in ec2types.Instance) string {
	dns := aws.ToString(in.PrivateDnsName)
	if h, _, ok := strings.Cut(dns, "."); ok && h != "" {
		return h
	}
	if dns != "" {
		return dns
	}
	return "ip-" + strings.ReplaceAll(aws.ToString(in.PrivateIpAddress), ".", "-")
}

// register creates the Node K3s's agent registers for in: the join
// script's labels on the kubelet's own.
func (j *Joiner) register(ctx context.Context, in ec2types.Instance) (string, error) {
	id := aws.ToString(in.InstanceId)
	host := Hostname(in)
	labels := map[string]string{
		autoscaler.LabelInstanceID: id,
		autoscaler.LabelCluster:    j.cfg.ClusterID,
	}
	maps.Copy(labels, j.cfg.Labels)
	if in.Placement != nil && aws.ToString(in.Placement.AvailabilityZone) != "" {
		// The join script labels the node with its instance's zone.
		labels[corev1.LabelTopologyZone] = aws.ToString(in.Placement.AvailabilityZone)
	}
	node := workerNode(host, j.cfg.CPU, j.cfg.Memory, labels, nil)
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: aws.ToString(in.PrivateIpAddress)}, {Type: corev1.NodeHostName, Address: host}}
	if err := createNode(ctx, j.cfg.Kube, node); err != nil && !apierrors.IsAlreadyExists(errors.Unwrap(err)) {
		return "", err
	}
	j.cfg.Logger.Info("joined", "instance", id, "node", host)
	return host, nil
}
