package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/node-fleet/node-fleet/metrics"
)

// unschedulableHandler follows pending pods and calls trigger once for
// each pod that becomes unschedulable (again after it was scheduled, or
// after it was deleted and created anew under the same name).
type unschedulableHandler struct {
	trigger func()
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]bool // pods already reported unschedulable
}

func newUnschedulableHandler(trigger func(), log *slog.Logger) *unschedulableHandler {
	return &unschedulableHandler{trigger: trigger, log: log, seen: map[string]bool{}}
}

func (h *unschedulableHandler) check(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key := pod.Namespace + "/" + pod.Name
	h.mu.Lock()
	if !metrics.Unschedulable(pod) {
		delete(h.seen, key)
		h.mu.Unlock()
		return
	}
	if h.seen[key] {
		h.mu.Unlock()
		return
	}
	h.seen[key] = true
	h.mu.Unlock()
	h.log.Info("unschedulable pod, tick soon", "pod", key)
	h.trigger()
}

// forget drops a deleted pod; obj is the pod, or the informer's tombstone
// for a deletion it learnt of only by relisting.
func (h *unschedulableHandler) forget(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	h.mu.Lock()
	delete(h.seen, pod.Namespace+"/"+pod.Name)
	h.mu.Unlock()
}

// funcs returns the handler as the informer's event handler.
func (h *unschedulableHandler) funcs() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    h.check,
		UpdateFunc: func(_, obj any) { h.check(obj) },
		DeleteFunc: h.forget,
	}
}

// watchUnschedulable watches pending pods (an informer, which lists once
// and then follows the API server's watch, relisting when it must) and
// calls trigger once for every pod that becomes unschedulable; the
// batcher behind trigger decides when to tick. It returns nil when ctx
// ends, or an error when the informer cannot sync.
func watchUnschedulable(ctx context.Context, client kubernetes.Interface, trigger func(), log *slog.Logger) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "status.phase=Pending" }))
	pods := factory.Core().V1().Pods().Informer()
	if _, err := pods.AddEventHandler(newUnschedulableHandler(trigger, log).funcs()); err != nil {
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
