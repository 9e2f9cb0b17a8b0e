package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// deployReadme is the Pulumi stack's README, whose verify and destroy
// steps run this command.
const deployReadme = "../../deploy/README.md"

// readmeCommand is one command line of a sh block that runs nodefleet:
// the variables set before it in its block, and the line itself.
type readmeCommand struct {
	vars []string
	line string
}

// nodefleetCommands returns the commands of page's sh blocks that run
// examples/nodefleet, continuation lines joined.
func nodefleetCommands(page string) []readmeCommand {
	var out []readmeCommand
	assign := regexp.MustCompile(`(?:^|\s)([A-Z][A-Z0-9_]*)=`)
	inBlock := false
	var vars []string
	for _, line := range strings.Split(strings.ReplaceAll(page, "\\\n", " "), "\n") {
		switch {
		case line == "```sh":
			inBlock, vars = true, nil
			continue
		case line == "```":
			inBlock = false
		}
		if !inBlock {
			continue
		}
		head, _, _ := strings.Cut(line, " go ")
		for _, m := range assign.FindAllStringSubmatch(head, -1) {
			vars = append(vars, m[1])
		}
		if strings.Contains(line, "examples/nodefleet") {
			out = append(out, readmeCommand{vars: append([]string(nil), vars...), line: line})
		}
	}
	return out
}

// shellWords splits the arguments of a command line as the shell does for
// the simple quoting the docs use; a word with a substitution is "x".
func shellWords(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`"[^"]*"|'[^']*'|\S+`).FindAllString(s, -1) {
		switch {
		case strings.Contains(m, "$("):
			m = "x"
		case strings.HasPrefix(m, `"`) || strings.HasPrefix(m, `'`):
			m = m[1 : len(m)-1]
		}
		out = append(out, m)
	}
	return out
}

// Every nodefleet command deploy/README.md shows runs as written from
// deploy/ (a module of its own, whose go.sum lacks the command's
// dependencies), and every variable it sets before it is one the command
// reads: a misnamed one is silently ignored, and the command then works on
// another table or none.
func TestDeployReadmeCommandsRunAsWritten(t *testing.T) {
	page, err := os.ReadFile(deployReadme)
	if err != nil {
		t.Fatal(err)
	}
	cmds := nodefleetCommands(string(page))
	if len(cmds) < 2 {
		t.Fatalf("%d nodefleet commands in %s, want the verify and the destroy steps'", len(cmds), deployReadme)
	}
	goRun := regexp.MustCompile(`\bgo ((?:-C \S+ )?)run (\S+) (.*)$`)
	for _, c := range cmds {
		m := goRun.FindStringSubmatch(c.line)
		if m == nil {
			t.Errorf("%q: not a go run of the command", c.line)
			continue
		}
		list := exec.CommandContext(t.Context(), "go", append(strings.Fields(m[1]), "list", "-deps", m[2])...)
		list.Dir = "../../deploy"
		if out, err := list.CombinedOutput(); err != nil {
			t.Errorf("%q does not run from deploy/: go %slist -deps %s: %v\n%.600s", c.line, m[1], m[2], err, out)
		}
		read := map[string]bool{}
		var stderr bytes.Buffer
		a := &app{getenv: func(k string) string { read[k] = true; return "" }, stdout: &bytes.Buffer{}, stderr: &stderr,
			aws: func(context.Context, string) (aws.Config, error) {
				return aws.Config{}, errors.New("no AWS in this test")
			}}
		a.run(t.Context(), shellWords(m[3]))
		if len(read) == 0 {
			t.Errorf("%q read no variable: %s", c.line, stderr.String())
		}
		for _, v := range c.vars {
			if !read[v] && !strings.HasPrefix(v, "AWS_") {
				t.Errorf("%q sets %s, which nodefleet %s does not read", c.line, v, shellWords(m[3])[0])
			}
		}
	}
}
