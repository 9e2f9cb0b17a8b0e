package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/node-fleet/node-fleet/metrics"
)

// watchUnschedulable watches pending pods (an informer, which lists once
// and then follows the API server's watch, relisting when it must) and
// calls trigger when one becomes unschedulable, at most once per minGap.
// It returns nil when ctx ends, or an error when the informer cannot sync.
func watchUnschedulable(ctx context.Context, client kubernetes.Interface, trigger func(), minGap time.Duration, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "status.phase=Pending" }))
	pods := factory.Core().V1().Pods().Informer()
	var mu sync.Mutex
	var last time.Time
	seen := map[string]bool{} // pods already reported unschedulable
	check := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		key := pod.Namespace + "/" + pod.Name
		mu.Lock()
		defer mu.Unlock()
		if !metrics.Unschedulable(pod) {
			delete(seen, key)
			return
		}
		if seen[key] {
			return
		}
		seen[key] = true
		if time.Since(last) < minGap {
			log.Debug("unschedulable pod, tick already asked for", "pod", key)
			return
		}
		last = time.Now()
		log.Info("unschedulable pod, tick now", "pod", key)
		trigger()
	}
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    check,
		UpdateFunc: func(_, obj any) { check(obj) },
		DeleteFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				mu.Lock()
				delete(seen, pod.Namespace+"/"+pod.Name)
				mu.Unlock()
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("the %v informer did not sync", typ)
		}
	}
	<-ctx.Done()
	return nil
}
