package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// All runs a paginated list call to the end, size items a page, and
// returns every item. list is called with the options of each page and
// returns its items and the continue token ("" on the last page).
func All[T any](ctx context.Context, size int64, list func(context.Context, metav1.ListOptions) ([]T, string, error)) ([]T, error) {
	var all []T
	opts := metav1.ListOptions{Limit: size}
	for {
		items, cont, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if cont == "" {
			return all, nil
		}
		opts.Continue = cont
	}
}
