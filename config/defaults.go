package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// describe is a setting's help with its default, from Defaults.
func (s setting) describe() string {
	if s.show == nil {
		return s.help
	}
	return s.help + "; default " + s.show(Defaults())
}

// Markdown returns the table of every setting, for the README: the
// variable (and the daemon's flag), the programs that read it, whether it
// is required, what it accepts, and its default, printed from Defaults.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | daemon flag | programs | required | what it is, what it accepts |\n|---|---|---|---|---|\n")
	list := settings()
	sort.SliceStable(list, func(i, j int) bool { return list[i].required != 0 && list[j].required == 0 })
	for _, s := range list {
		progs := []string{}
		req := []string{}
		for _, p := range []struct {
			p    Program
			name string
		}{{Lambda, "lambda"}, {Daemon, "daemon"}} {
			if s.programs&p.p != 0 {
				progs = append(progs, p.name)
			}
			if s.required&p.p != 0 {
				req = append(req, p.name)
			}
		}
		flag := ""
		if s.programs&Daemon != 0 {
			flag = "`-" + s.flag() + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.env, flag, strings.Join(progs, ", "), strings.Join(req, ", "),
			strings.ReplaceAll(s.describe(), "|", `\|`))
	}
	return b.String()
}
