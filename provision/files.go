package provision

import (
	_ "embed" // the RBAC manifest and the join script
	"fmt"
	"sort"
	"strings"
)

//go:embed rbac.yaml
var rbacYAML string

//go:embed worker-join.sh
var workerJoinScript string

// RBAC returns the autoscaler's identity and least-privilege RBAC as a
// multi-document YAML manifest: the Namespace node-fleet, the
// ServiceAccount autoscaler, the ClusterRole and ClusterRoleBinding
// node-fleet-autoscaler. The daemon runs as that ServiceAccount; the
// Lambda function's kubeconfig authenticates as it. Applying it twice is
// harmless.
func RBAC() string { return rbacYAML }

// WorkerJoinScript returns the workers' join script (provision/worker-join.sh):
// its comment lists the variables it reads.
func WorkerJoinScript() string { return workerJoinScript }

// The join script's variables (see WorkerJoinScript).
const (
	VarClusterID   = "NODEFLEET_CLUSTER_ID"
	VarTokenSecret = "NODEFLEET_TOKEN_SECRET"
	VarServerURL   = "NODEFLEET_SERVER_URL"
	VarK3sVersion  = "NODEFLEET_K3S_VERSION"
)

// UserData returns script with vars exported ahead of it (in name order,
// single-quoted for the shell), under one "#!/usr/bin/env bash" line: the
// user data of a launch template, before base64.
func UserData(script string, vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, ShellQuote(vars[k]))
	}
	body := script
	if i := strings.IndexByte(body, '\n'); strings.HasPrefix(body, "#!") && i >= 0 {
		body = body[i+1:]
	}
	b.WriteString(body)
	return b.String()
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// UserDataVars reads back the variables UserData exported ahead of the
// script ("export NAME='value'" lines after the first), as a check of a
// launch template's user data. Lines it does not recognise end the list.
func UserDataVars(userData string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(userData, "\n")
	for i, line := range lines {
		if i == 0 && strings.HasPrefix(line, "#!") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !strings.HasPrefix(line, "export ") || !ok {
			break
		}
		out[name] = unquote(value)
	}
	return out
}

// unquote undoes ShellQuote (and accepts an unquoted word).
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
	}
	return strings.Trim(v, `"`)
}
