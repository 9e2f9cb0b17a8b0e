package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkPromQL is a light check of a PromQL expression: not empty, strings
// closed, brackets balanced and matched. It catches typos at construction
// without the Prometheus server module (github.com/prometheus/prometheus,
// whose go.mod requires about 250 modules, cloud SDKs among them, for
// service discovery); the server remains the judge of everything else, and
// an expression it refuses is reported missing at every collection.
func checkPromQL(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return errors.New("is empty")
	}
	if !utf8.ValidString(expr) {
		return errors.New("is not valid UTF-8")
	}
	var stack []rune
	closing := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(expr); {
		r, size := utf8.DecodeRuneInString(expr[i:])
		switch {
		case r == '"' || r == '\'' || r == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return err
			}
			i = end
			continue
		case r == '#':
			// A comment runs to the end of the line.
			if nl := strings.IndexByte(expr[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(expr)
			}
			continue
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			if len(stack) == 0 || stack[len(stack)-1] != closing[r] {
				return fmt.Errorf("unexpected %q at offset %d", r, i)
			}
			stack = stack[:len(stack)-1]
		case unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r':
			return fmt.Errorf("control character %U at offset %d", r, i)
		}
		i += size
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return nil
}

// skipString returns the offset just after the string literal starting at
// expr[start], or an error when it is not closed.
func skipString(expr string, start int) (int, error) {
	quote := expr[start]
	for i := start + 1; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			if quote != '`' {
				i++
			}
		case quote:
			return i + 1, nil
		case '\n':
			if quote != '`' {
				return 0, fmt.Errorf("string starting at offset %d runs past the end of the line", start)
			}
		}
	}
	return 0, fmt.Errorf("string starting at offset %d is not closed", start)
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkMatchers checks a comma-separated list of label matchers, as they
// appear between braces: name op "value", with op one of = != =~ !~ and a
// regular expression that compiles for =~ and !~.
func checkMatchers(s string) error {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return errors.New("is empty")
	}
	for n := 1; ; n++ {
		i := strings.IndexAny(rest, "=!")
		if i < 0 {
			return fmt.Errorf("matcher %d: no operator (=, !=, =~, !~)", n)
		}
		name := strings.TrimSpace(rest[:i])
		if !labelName.MatchString(name) {
			return fmt.Errorf("matcher %d: %q is not a label name", n, name)
		}
		rest = rest[i:]
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if op == "" {
			return fmt.Errorf("matcher %d: bad operator at %q", n, rest)
		}
		rest = strings.TrimSpace(rest[len(op):])
		if rest == "" || (rest[0] != '"' && rest[0] != '\'' && rest[0] != '`') {
			return fmt.Errorf("matcher %d (%s): the value must be a quoted string", n, name)
		}
		end, err := skipString(rest, 0)
		if err != nil {
			return fmt.Errorf("matcher %d (%s): %w", n, name, err)
		}
		if op == "=~" || op == "!~" {
			value := unquote(rest[:end])
			if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				return fmt.Errorf("matcher %d (%s): bad regular expression: %w", n, name, err)
			}
		}
		rest = strings.TrimSpace(rest[end:])
		if rest == "" {
			return nil
		}
		if rest[0] != ',' {
			return fmt.Errorf("matcher %d (%s): expected a comma after the value, got %q", n, name, rest)
		}
		rest = strings.TrimSpace(rest[1:])
		if rest == "" {
			return nil // a trailing comma is allowed, as in PromQL
		}
	}
}

// unquote removes the quotes of a string literal and resolves the common
// escapes, enough to compile the regular expression inside.
func unquote(lit string) string {
	body := lit[1 : len(lit)-1]
	if lit[0] == '`' {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) {
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(body[i])
			}
			continue
		}
		b.WriteByte(body[i])
	}
	return b.String()
}
