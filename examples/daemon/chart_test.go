package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// chartDir is the daemon's Helm chart.
const chartDir = "../../deploy/helm/node-fleet"

// helm runs the helm command (v4, built by `make test` into .cache/bin and
// named by NODEFLEET_HELM) and returns its standard output.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helmRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helmRun runs the helm command and returns its standard output, or an
// error with its output.
func helmRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Lookup(t, "NODEFLEET_HELM", "helm (v4)")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// No repository cache or configuration of the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// exampleSettings are the K3s HelmChart example's settings.
func exampleSettings(t *testing.T) map[string]any {
	t.Helper()
	var example struct {
		Settings map[string]any `json:"settings"`
	}
	if err := yaml.Unmarshal([]byte(k3sHelmChart(t).Spec.ValuesContent), &example); err != nil {
		t.Fatal(err)
	}
	return example.Settings
}

// writeValues writes values as a values file and returns its path.
func writeValues(t *testing.T, values map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// settingsValues writes a values file with the K3s HelmChart example's
// settings alone (the required ones among them) and returns its path.
func settingsValues(t *testing.T) string {
	t.Helper()
	return writeValues(t, map[string]any{"settings": exampleSettings(t)})
}

// renderChart renders the chart as release node-fleet in namespace ns,
// with the example's settings and helm template's further args (values),
// and decodes the objects.
func renderChart(t *testing.T, ns string, args ...string) []runtime.Object {
	t.Helper()
	out := helm(t, append([]string{"template", "node-fleet", chartDir, "--namespace", ns, "-f", settingsValues(t)}, args...)...)
	return decodeDocs(t, "the chart's rendered manifests", strings.TrimPrefix(out, "---\n"))
}

// byType indexes objects by their Go type, without the labels Helm's
// chart adds (app.kubernetes.io/managed-by and the like) and without the
// checksum annotation that rolls the pods when the settings change.
func byType(objs []runtime.Object) map[string]runtime.Object {
	m := map[string]runtime.Object{}
	for _, o := range objs {
		o = o.DeepCopyObject()
		if acc, ok := o.(metav1.Object); ok {
			acc.SetLabels(nil)
		}
		if d, ok := o.(*appsv1.Deployment); ok {
			delete(d.Spec.Template.Annotations, "checksum/settings")
		}
		m[fmt.Sprintf("%T", o)] = o
	}
	return m
}

// The chart passes helm lint --strict and renders, with its defaults in
// namespace node-fleet, exactly deploy/daemon's objects (RBAC, Deployment,
// PodDisruptionBudget, Service; the labels aside), so that the chart and
// the hand-kept YAML, and so deploy/server-init.sh's RBAC, are one; with
// the K3s HelmChart example's values its ConfigMap is deploy/daemon's.
func TestChartRendersDeployDaemonsObjects(t *testing.T) {
	helm(t, "lint", "--strict", chartDir, "-f", settingsValues(t))
	want := byType(append(decodeDocs(t, "deploy/daemon/rbac.yaml", readFile(t, "../../deploy/daemon/rbac.yaml")),
		decodeDocs(t, "deploy/daemon/daemon.yaml", readFile(t, "../../deploy/daemon/daemon.yaml"))...))
	delete(want, "*v1.Namespace") // helm install --create-namespace, or the HelmChart's createNamespace
	wantCM := want["*v1.ConfigMap"]
	delete(want, "*v1.ConfigMap")
	got := byType(renderChart(t, "node-fleet"))
	gotCM := got["*v1.ConfigMap"]
	delete(got, "*v1.ConfigMap")
	if len(want) != 6 || gotCM == nil {
		t.Fatalf("deploy/daemon has %d objects besides the Namespace and the ConfigMap, want 6; chart's ConfigMap %v", len(want), gotCM)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's defaults differ from deploy/daemon (-deploy/daemon +chart):\n%s", diff)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(k3sHelmChart(t).Spec.ValuesContent), 0o600); err != nil {
		t.Fatal(err)
	}
	withExample := byType(renderChart(t, "node-fleet", "-f", values))["*v1.ConfigMap"].(*corev1.ConfigMap)
	if diff := cmp.Diff(wantCM.(*corev1.ConfigMap).Data, withExample.Data); diff != "" {
		t.Errorf("the HelmChart example's settings differ from deploy/daemon's ConfigMap (-deploy/daemon +chart):\n%s", diff)
	}
}

// The chart's Deployment schedules on a stock K3s server node by default
// (as deploy/daemon's does), and anywhere once the values clear the
// nodeSelector and the tolerations.
func TestChartSchedulesOnAStockK3sServerOrWhereTheValuesSay(t *testing.T) {
	deployment := func(args ...string) corev1.PodSpec {
		d, ok := byType(renderChart(t, "node-fleet", args...))["*v1.Deployment"].(*appsv1.Deployment)
		if !ok {
			t.Fatal("the chart renders no Deployment")
		}
		return d.Spec.Template.Spec
	}
	server := map[string]string{"node-role.kubernetes.io/control-plane": "true", "kubernetes.io/os": "linux"}
	worker := map[string]string{"kubernetes.io/os": "linux", "node-fleet.io/cluster": "shop"}
	taint := []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	def, anywhere := deployment(), deployment("--set", "nodeSelector=null", "--set", "tolerations=null")
	for _, c := range []struct {
		name   string
		spec   corev1.PodSpec
		labels map[string]string
		taints []corev1.Taint
		want   bool
	}{
		{"defaults, tainted server", def, server, taint, true},
		{"defaults, worker", def, worker, nil, false},
		{"cleared, worker", anywhere, worker, nil, true},
		{"cleared, tainted server", anywhere, server, taint, false},
	} {
		if got := schedulable(c.spec, c.labels, c.taints); got != c.want {
			t.Errorf("%s: schedulable %v, want %v", c.name, got, c.want)
		}
	}
}

// helmChart is the part of K3s's HelmChart (helm.cattle.io/v1) the
// example sets.
type helmChart struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct{ Name, Namespace string }
	Spec       struct {
		Chart           string `json:"chart"`
		TargetNamespace string `json:"targetNamespace"`
		CreateNamespace bool   `json:"createNamespace"`
		ValuesContent   string `json:"valuesContent"`
	}
}

// k3sHelmChart reads deploy/helm/k3s-helmchart.yaml, strictly (a field
// K3s does not know, misspelt, is an error).
func k3sHelmChart(t *testing.T) helmChart {
	t.Helper()
	var hc helmChart
	if err := yaml.UnmarshalStrict([]byte(readFile(t, "../../deploy/helm/k3s-helmchart.yaml")), &hc); err != nil {
		t.Fatalf("deploy/helm/k3s-helmchart.yaml: %v", err)
	}
	return hc
}

// The K3s HelmChart example parses, is a helm.cattle.io/v1 HelmChart in
// kube-system (where K3s's controller looks), names the file `helm
// package` makes of this chart, served by the K3s server, and its values
// are the chart's (no key the chart does not have).
func TestK3sHelmChartExampleNamesTheChart(t *testing.T) {
	hc := k3sHelmChart(t)
	if hc.APIVersion != "helm.cattle.io/v1" || hc.Kind != "HelmChart" || hc.Metadata.Namespace != "kube-system" || hc.Spec.TargetNamespace != "node-fleet" || !hc.Spec.CreateNamespace {
		t.Errorf("HelmChart: %+v", hc)
	}
	dir := t.TempDir()
	out := helm(t, "package", chartDir, "--destination", dir)
	pkg, err := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if err != nil || len(pkg) != 1 {
		t.Fatalf("helm package made %v (%v): %s", pkg, err, out)
	}
	if want := "https://%{KUBERNETES_API}%/static/charts/" + filepath.Base(pkg[0]); hc.Spec.Chart != want {
		t.Errorf("spec.chart = %q, want %q (the packaged chart, served by the K3s server)", hc.Spec.Chart, want)
	}
	var chartValues, example map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, chartDir+"/values.yaml")), &chartValues); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &example); err != nil {
		t.Fatalf("valuesContent: %v", err)
	}
	for k := range example {
		if _, ok := chartValues[k]; !ok {
			t.Errorf("valuesContent sets %q, which the chart's values.yaml does not have", k)
		}
	}
}

// The chart's rendered manifests, applied to the real API server, give
// the daemon's ServiceAccount exactly the rights it needs (the same
// check as deploy/daemon's manifests get in TestIntegrationDaemonInCluster),
// and its Deployment's two pods run as that ServiceAccount.
func TestIntegrationChartRBACOnTheAPIServer(t *testing.T) {
	kube := kubetest.Connect(t)
	objs := renderChart(t, "node-fleet")
	a := applyObjects(t, kube, objs)
	kubetest.Eventually(t, 60*time.Second, "the chart's Deployment's 2 pods", func() (bool, error) {
		pods, err := kube.Client.CoreV1().Pods(a.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=node-fleet-daemon"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.ServiceAccountName != a.sa {
				return false, fmt.Errorf("pod %s runs as %s", p.Name, p.Spec.ServiceAccountName)
			}
		}
		return len(pods.Items) == 2, nil
	})
	_, saClient := saKubeconfig(t, kube, a.ns, a.sa)
	checkAccess(t, kube, saClient, a)
}

// The chart refuses values the daemon would refuse at start, naming the
// setting, rather than rendering pods that crash: a required setting
// missing, no launch template or two, a cluster id the programs reject,
// no replica.
func TestChartValuesAreValidated(t *testing.T) {
	// values writes the example's settings changed by change (a nil
	// value deletes the setting), with top-level values, as a file.
	values := func(change map[string]any, top map[string]any) string {
		settings := exampleSettings(t)
		for k, v := range change {
			if v == nil {
				delete(settings, k)
				continue
			}
			settings[k] = v
		}
		all := map[string]any{"settings": settings}
		maps.Copy(all, top)
		return writeValues(t, all)
	}
	for _, c := range []struct {
		name string
		args []string
		want string // in helm's error; "" for no error
	}{
		{"the example's settings", []string{"-f", values(nil, nil)}, ""},
		{"the chart's defaults alone", nil, "CLUSTER_ID"},
		{"no PROMETHEUS_URL", []string{"-f", values(map[string]any{"PROMETHEUS_URL": nil}, nil)}, "PROMETHEUS_URL"},
		{"no launch template", []string{"-f", values(map[string]any{"LAUNCH_TEMPLATE_ID": nil}, nil)}, "LAUNCH_TEMPLATE"},
		{"two launch templates", []string{"-f", values(map[string]any{"LAUNCH_TEMPLATE_NAME": "workers"}, nil)}, "LAUNCH_TEMPLATE"},
		{"a launch template by name", []string{"-f", values(map[string]any{"LAUNCH_TEMPLATE_ID": nil, "LAUNCH_TEMPLATE_NAME": "workers"}, nil)}, ""},
		{"a cluster id with a space", []string{"-f", values(map[string]any{"CLUSTER_ID": "bad id"}, nil)}, "CLUSTER_ID"},
		{"no replica", []string{"-f", values(nil, map[string]any{"replicaCount": 0})}, "replicaCount"},
		{"a malformed subnet id", []string{"-f", values(map[string]any{"SUBNET_IDS": "subnet-0123456789abcdef0,sn-1"}, nil)}, "SUBNET_IDS"},
		{"a malformed launch template id", []string{"-f", values(map[string]any{"LAUNCH_TEMPLATE_ID": "lt-123"}, nil)}, "LAUNCH_TEMPLATE_ID"},
	} {
		_, err := helmRun(t, append([]string{"template", "node-fleet", chartDir, "--namespace", "node-fleet"}, c.args...)...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: rendered, want an error naming %s", c.name, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: the error does not name %s: %v", c.name, c.want, err)
		}
	}
}

// The K3s HelmChart example installs on a cluster whose autoscaler RBAC is
// in place already, as it is on every path the docs take (the Pulumi
// stack's server installs it, the quickstart applies it): Helm refuses to
// take over objects it did not create, so the example must not create
// them again. helm install --dry-run=server asks the real API server and
// changes nothing.
func TestIntegrationK3sHelmChartExampleInstallsBesideTheRBAC(t *testing.T) {
	kube := kubetest.Connect(t)
	a := applyObjects(t, kube, decodeDocs(t, "deploy/daemon/rbac.yaml", readFile(t, "../../deploy/daemon/rbac.yaml")))
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(k3sHelmChart(t).Spec.ValuesContent), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := testenv.Lookup(t, kubetest.EnvKubeconfig, "the kube-apiserver")
	if _, err := helmRun(t, "install", "node-fleet", chartDir, "--kubeconfig", kubeconfig, "--namespace", a.ns,
		"--dry-run=server", "-f", values, "--set", "rbac.name="+a.role); err != nil {
		t.Errorf("the HelmChart example beside the RBAC deploy/daemon/rbac.yaml installed: %v", err)
	}
}

// The chart's notes warn only of what is true: the schema refuses an
// install without a required setting, and a setting with a default (such
// as MAX_NODES) does not make the daemon exit.
func TestChartNotesClaimNoExitForADefaultedSetting(t *testing.T) {
	settings := exampleSettings(t)
	delete(settings, "MAX_NODES")
	out := helm(t, "install", "node-fleet", chartDir, "--namespace", "node-fleet", "--dry-run=client",
		"-f", writeValues(t, map[string]any{"settings": settings}))
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	if strings.Contains(notes, "will exit at start") {
		t.Errorf("the notes say the daemon exits without MAX_NODES, which has a default:\n%s", notes)
	}
}
