package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const adminSecretArn = "arn:aws:test:::aws:secretsmanager/secret:Secret/shop-admin-kubeconfig"

func TestServerIsReachedThroughSessionManagerWithoutAKey(t *testing.T) {
	m := deploy(t, testSettings())
	server := m.one(t, "aws:ec2/instance:Instance", "shop-server")
	if k := str(server.Inputs["keyName"]); k != "" {
		t.Errorf("the server has the SSH key pair %q; the way in is SSM Session Manager", k)
	}
	var ssm bool
	for _, a := range m.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		if str(a.Inputs["policyArn"]) == ssmManagedInstancePolicy {
			if str(a.Inputs["role"]) != "shop-server" {
				t.Errorf("the SSM policy is attached to %q, not the server's role", a.Inputs["role"])
			}
			ssm = true
		}
	}
	if !ssm {
		t.Errorf("the server's role lacks %s: Session Manager cannot reach it", ssmManagedInstancePolicy)
	}
	if !strings.Contains(str(server.Inputs["userData"]), "NODEFLEET_ADMIN_KUBECONFIG_SECRET='shop/admin-kubeconfig'") {
		t.Errorf("the server's user data does not name the admin kubeconfig's secret")
	}
}

// allows reports the statements of an identity policy that let its
// holder read the admin kubeconfig.
func allowsReadingAdminSecret(t *testing.T, doc string) []string {
	t.Helper()
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, st := range p.Statement {
		reads := slices.Contains(st.Action, "secretsmanager:GetSecretValue") || slices.Contains(st.Action, "secretsmanager:*")
		on := slices.Contains(st.Resource, "*") || slices.Contains(st.Resource, adminSecretArn)
		if st.Effect == "Allow" && reads && on {
			out = append(out, st.Sid)
		}
	}
	return out
}

func TestAdminKubeconfigIsReadByNoRoleOfTheStack(t *testing.T) {
	m := deploy(t, testSettings())
	docs := map[string]string{}
	for _, r := range m.of("aws:iam/rolePolicy:RolePolicy") {
		docs[r.Name] = str(r.Inputs["policy"])
	}
	for _, r := range m.of("aws:iam/policy:Policy") {
		docs[r.Name] = str(r.Inputs["policy"])
	}
	if len(docs) < 4 {
		t.Fatalf("found %d policies, want the server's, the workers', the function's and the daemon's", len(docs))
	}
	for name, doc := range docs {
		if sids := allowsReadingAdminSecret(t, doc); len(sids) > 0 {
			t.Errorf("policy %s lets its holder read the admin kubeconfig: %v", name, sids)
		}
	}
	var server policy
	if err := json.Unmarshal([]byte(docs["shop-server"]), &server); err != nil {
		t.Fatal(err)
	}
	var writes bool
	for _, st := range server.Statement {
		writes = writes || slices.Contains(st.Action, "secretsmanager:PutSecretValue") && slices.Contains(st.Resource, adminSecretArn)
	}
	if !writes {
		t.Errorf("the server may not write the admin kubeconfig: %s", docs["shop-server"])
	}

	sp := m.one(t, "aws:secretsmanager/secretPolicy:SecretPolicy", "shop-admin-kubeconfig")
	if str(sp.Inputs["secretArn"]) != adminSecretArn {
		t.Errorf("the deny policy is on %v", sp.Inputs["secretArn"])
	}
	var res struct {
		Statement []struct {
			Effect, Action string
			Condition      map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(str(sp.Inputs["policy"])), &res); err != nil {
		t.Fatal(err)
	}
	var denied []string
	for _, st := range res.Statement {
		if st.Effect == "Deny" && st.Action == "secretsmanager:GetSecretValue" {
			denied = append(denied, st.Condition["ArnEquals"]["aws:PrincipalArn"]...)
		}
	}
	sort.Strings(denied)
	want := []string{
		"arn:aws:test:::aws:iam/role:Role/shop-autoscaler",
		"arn:aws:test:::aws:iam/role:Role/shop-server",
		"arn:aws:test:::aws:iam/role:Role/shop-worker",
	}
	if !slices.Equal(denied, want) {
		t.Errorf("the admin kubeconfig's policy denies reading to %v, want %v", denied, want)
	}
}

// TestEveryOutputTheDocsUseIsExported reads each `pulumi stack output NAME`
// in the repository's Markdown and checks the stack exports NAME, so that
// the docs cannot send an owner to an output that does not exist.
func TestEveryOutputTheDocsUseIsExported(t *testing.T) {
	var st *Stack
	err := pulumi.RunErr(func(ctx *pulumi.Context) (err error) {
		st, err = NewStack(ctx, testSettings())
		return err
	}, pulumi.WithMocks("node-fleet", "test", &mocks{}))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "README.md", "../README.md")
	use := regexp.MustCompile(`pulumi stack output (?:--show-secrets )?([A-Za-z]+)`)
	used := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = append(used[m[1]], f)
		}
	}
	if len(used) < 5 {
		t.Fatalf("the docs use %d outputs (%v); the README's way in uses more", len(used), used)
	}
	for name, where := range used {
		if _, ok := st.Outputs[name]; !ok {
			t.Errorf("%v use the output %q, which the stack does not export", where, name)
		}
	}
	for _, name := range []string{"serverInstanceId", "privateSubnetIds", "prometheusUrl", "adminKubeconfigSecret", "tableName", "topicArn"} {
		if _, ok := st.Outputs[name]; !ok {
			t.Errorf("the stack does not export %q", name)
		}
	}
}
