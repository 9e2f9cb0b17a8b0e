package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/kube"
)

// A Client on a connection, listing nodes a page at a time as drain and
// metrics do. The API server here is a stand-in that answers one list; a
// program's connection comes from a kubeconfig (clientcmd) or
// rest.InClusterConfig.
func ExampleNewForConfig() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"worker-1"}},{"metadata":{"name":"worker-2"}}]}`)
	}))
	defer srv.Close()

	client, err := kube.NewForConfig(&rest.Config{Host: srv.URL, QPS: 20, Burst: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	nodes, err := client.ListNodes(context.Background(), metav1.ListOptions{LabelSelector: "node-fleet.io/cluster=prod", Limit: 500})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range nodes.Items {
		fmt.Println(n.Name)
	}
	// Output:
	// GET /api/v1/nodes labelSelector=node-fleet.io%2Fcluster%3Dprod&limit=500
	// worker-1
	// worker-2
}
