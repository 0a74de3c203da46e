package eventbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Input transformation, following "Amazon EventBridge input transformation"
// (EventBridge user guide) and the InputTransformer API reference:
//
//   - InputPathsMap names values of the event by JSON path: $ then dot
//     notation ($.detail.runId), array indices ($.resources[0]) and wildcards
//     ($.detail.items[*].key, $.detail.*), which yield an array. Names match
//     [A-Za-z0-9_-]+, at most 100 of them, none starting with "AWS.".
//   - InputTemplate holds <name> placeholders. Predefined names:
//     aws.events.rule-arn, aws.events.rule-name,
//     aws.events.event.ingestion-time (ISO 8601), aws.events.event (the
//     event without its detail, JSON) and aws.events.event.json (the whole
//     event, JSON).
//   - A template that is a JSON object or array ({…} or […]) is JSON: a
//     placeholder outside a JSON string inserts the JSON value (a string
//     gets its quotes: {"runId": <runId>} → {"runId":"r-123"}); one inside a
//     string inserts the value's text with no quotes ("<runId>" → "r-123";
//     objects, numbers, booleans as their JSON text). As in EventBridge the
//     inserted text is not escaped: a string holding a quote breaks the
//     JSON, and the delivery fails. The result is minified.
//   - Any other template is text: every placeholder inserts the value's
//     text (strings without quotes).
//   - A path that does not resolve creates no variable: its placeholder
//     inserts nothing in text and inside strings, and null where a JSON value
//     is expected (EventBridge's documentation says only that the variable
//     "won't appear in the output"; null keeps the JSON valid).
//   - Placeholders are not allowed as object keys, and every placeholder
//     must be defined (checked when the rule is added).
//
// InputPath delivers the value at one JSON path; Input delivers a constant
// JSON text. Only one of Input, InputPath and InputTemplate may be set; none
// delivers the whole event.

// Predefined input transformer variables.
const (
	VarRuleARN       = "aws.events.rule-arn"
	VarRuleName      = "aws.events.rule-name"
	VarIngestionTime = "aws.events.event.ingestion-time"
	VarEvent         = "aws.events.event"
	VarEventJSON     = "aws.events.event.json"
)

var predefinedVars = map[string]bool{VarRuleARN: true, VarRuleName: true, VarIngestionTime: true, VarEvent: true, VarEventJSON: true}

var pathsMapKey = regexp.MustCompile(`^[A-Za-z0-9_\-]+$`)

// placeholder names: the keys above plus the dotted predefined names.
func isPlaceholderChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// pathStep is one step of a JSON path: a member name, an array index, or a
// wildcard (every member or element).
type pathStep struct {
	name     string
	index    int
	isIndex  bool
	wildcard bool
}

// parsePath parses the JSON path subset EventBridge supports.
func parsePath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("JSON path %q does not start with $", p)
	}
	var steps []pathStep
	s := p[1:]
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			name := s[:end]
			if name == "" {
				return nil, fmt.Errorf("JSON path %q: empty member name", p)
			}
			if name == "*" {
				steps = append(steps, pathStep{wildcard: true})
			} else {
				steps = append(steps, pathStep{name: name})
			}
			s = s[end:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("JSON path %q: unclosed [", p)
			}
			in := s[1:end]
			if in == "*" {
				steps = append(steps, pathStep{wildcard: true})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("JSON path %q: bad index [%s] (use dot notation for members)", p, in)
				}
				steps = append(steps, pathStep{index: n, isIndex: true})
			}
			s = s[end+1:]
		default:
			return nil, fmt.Errorf("JSON path %q: unexpected %q", p, s[0])
		}
	}
	return steps, nil
}

// evalPath resolves steps in v (decoded with UseNumber). With a wildcard the
// result is the array of every match.
func evalPath(v any, steps []pathStep) (any, bool) {
	wild := false
	for _, st := range steps {
		if st.wildcard {
			wild = true
		}
	}
	cur := []any{v}
	for _, st := range steps {
		var next []any
		for _, c := range cur {
			switch {
			case st.wildcard:
				switch t := c.(type) {
				case []any:
					next = append(next, t...)
				case map[string]any:
					for _, k := range sortedKeys(t) {
						next = append(next, t[k])
					}
				}
			case st.isIndex:
				if a, ok := c.([]any); ok && st.index < len(a) {
					next = append(next, a[st.index])
				}
			default:
				if m, ok := c.(map[string]any); ok {
					if x, ok := m[st.name]; ok {
						next = append(next, x)
					}
				}
			}
		}
		cur = next
	}
	if wild {
		if cur == nil {
			return nil, false
		}
		return cur, true
	}
	if len(cur) != 1 {
		return nil, false
	}
	return cur[0], true
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	// insertion sort: tiny maps, no import of sort/slices needed elsewhere
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// value is one resolved template variable.
type value struct {
	json []byte // JSON text of the value
	text string // text inserted where quotes are already present or in text templates
}

func valueOf(v any) (value, error) {
	if s, ok := v.(string); ok {
		return value{json: marshalNoEscape(s), text: s}, nil
	}
	b := marshalNoEscape(v)
	if b == nil {
		return value{}, fmt.Errorf("cannot encode %T", v)
	}
	return value{json: b, text: string(b)}, nil
}

func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// template segment: literal text, or a placeholder and whether it sits
// inside a JSON string.
type segment struct {
	lit      string
	name     string
	inString bool
}

// parsedTemplate is an InputTemplate split into segments.
type parsedTemplate struct {
	isJSON bool
	segs   []segment
}

// parseTemplate splits tmpl at its placeholders. names are the defined
// variables; a <…> that is not a defined name stays literal text.
func parseTemplate(tmpl string, names map[string]bool) (parsedTemplate, error) {
	trimmed := strings.TrimSpace(tmpl)
	pt := parsedTemplate{isJSON: strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")}
	var (
		lit      strings.Builder
		inString bool
		escaped  bool
	)
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if pt.isJSON {
			switch {
			case escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case c == '"':
				inString = !inString
			}
		}
		if c == '<' {
			j := i + 1
			for j < len(tmpl) && isPlaceholderChar(tmpl[j]) {
				j++
			}
			if j < len(tmpl) && tmpl[j] == '>' && j > i+1 {
				name := tmpl[i+1 : j]
				if !names[name] && !predefinedVars[name] {
					return pt, fmt.Errorf("InputTemplate placeholder <%s> is not in InputPathsMap", name)
				}
				if pt.isJSON && !inString && placeholderIsKey(tmpl, j+1) {
					return pt, fmt.Errorf("InputTemplate placeholder <%s> is used as an object key", name)
				}
				if lit.Len() > 0 {
					pt.segs = append(pt.segs, segment{lit: lit.String()})
					lit.Reset()
				}
				pt.segs = append(pt.segs, segment{name: name, inString: inString || !pt.isJSON})
				i = j
				continue
			}
		}
		lit.WriteByte(c)
	}
	if lit.Len() > 0 {
		pt.segs = append(pt.segs, segment{lit: lit.String()})
	}
	if pt.isJSON && inString {
		return pt, errors.New("InputTemplate has an unterminated JSON string")
	}
	return pt, nil
}

// placeholderIsKey reports whether the text after a bare placeholder makes
// it an object key (next non-space byte is ':').
func placeholderIsKey(tmpl string, from int) bool {
	for ; from < len(tmpl); from++ {
		switch tmpl[from] {
		case ' ', '\t', '\r', '\n':
			continue
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}

// render fills the template. vars maps defined names to values; a name
// without a value (path not found) inserts nothing, or null for a bare JSON
// placeholder.
func (pt parsedTemplate) render(vars map[string]value) ([]byte, error) {
	var out bytes.Buffer
	for _, s := range pt.segs {
		if s.name == "" {
			out.WriteString(s.lit)
			continue
		}
		v, ok := vars[s.name]
		switch {
		case s.inString && ok:
			out.WriteString(v.text)
		case s.inString:
		case ok:
			out.Write(v.json)
		default:
			out.WriteString("null")
		}
	}
	if !pt.isJSON {
		return out.Bytes(), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, out.Bytes()); err != nil {
		return nil, fmt.Errorf("transformed input is not valid JSON (%v): %s", err, truncate(out.String(), 512))
	}
	return compact.Bytes(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// transformer is a target's compiled input configuration.
type transformer struct {
	input     []byte                // constant Input
	inputPath []pathStep            // InputPath
	paths     map[string][]pathStep // InputPathsMap
	tmpl      *parsedTemplate
}

// compileTarget validates a target's input configuration the way PutTargets
// does and compiles it.
func compileTarget(t Target) (*transformer, error) {
	set := 0
	for _, s := range []string{t.Input, t.InputPath, t.InputTemplate} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("only one of Input, InputPath and InputTemplate may be set")
	}
	if len(t.InputPathsMap) > 0 && t.InputTemplate == "" {
		return nil, errors.New("InputPathsMap needs an InputTemplate")
	}
	tr := &transformer{}
	switch {
	case t.Input != "":
		if !json.Valid([]byte(t.Input)) {
			return nil, errors.New("Input is not valid JSON")
		}
		var c bytes.Buffer
		_ = json.Compact(&c, []byte(t.Input))
		tr.input = c.Bytes()
	case t.InputPath != "":
		steps, err := parsePath(t.InputPath)
		if err != nil {
			return nil, err
		}
		tr.inputPath = steps
	case t.InputTemplate != "":
		if len(t.InputTemplate) > 8192 {
			return nil, errors.New("InputTemplate is longer than 8192 characters")
		}
		if len(t.InputPathsMap) > 100 {
			return nil, errors.New("InputPathsMap has more than 100 entries")
		}
		tr.paths = make(map[string][]pathStep, len(t.InputPathsMap))
		names := make(map[string]bool, len(t.InputPathsMap))
		for name, p := range t.InputPathsMap {
			if !pathsMapKey.MatchString(name) || strings.HasPrefix(strings.ToUpper(name), "AWS.") {
				return nil, fmt.Errorf("InputPathsMap key %q is not valid", name)
			}
			steps, err := parsePath(p)
			if err != nil {
				return nil, fmt.Errorf("InputPathsMap %q: %w", name, err)
			}
			tr.paths[name] = steps
			names[name] = true
		}
		pt, err := parseTemplate(t.InputTemplate, names)
		if err != nil {
			return nil, err
		}
		tr.tmpl = &pt
	}
	return tr, nil
}

// eventContext is what a transformation reads.
type eventContext struct {
	raw      []byte // the event as delivered
	ruleName string
	ruleARN  string
	ingested string // ISO 8601
}

// apply produces the input the target receives.
func (tr *transformer) apply(ec eventContext) ([]byte, error) {
	switch {
	case tr.input != nil:
		return tr.input, nil
	case tr.inputPath == nil && tr.tmpl == nil:
		return ec.raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(ec.raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if tr.inputPath != nil {
		v, ok := evalPath(doc, tr.inputPath)
		if !ok {
			return nil, errors.New("InputPath matches nothing in the event")
		}
		val, err := valueOf(v)
		if err != nil {
			return nil, err
		}
		return val.json, nil
	}
	vars := make(map[string]value, len(tr.paths)+5)
	for name, steps := range tr.paths {
		v, ok := evalPath(doc, steps)
		if !ok {
			continue
		}
		val, err := valueOf(v)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", name, err)
		}
		vars[name] = val
	}
	vars[VarRuleName] = value{json: marshalNoEscape(ec.ruleName), text: ec.ruleName}
	vars[VarRuleARN] = value{json: marshalNoEscape(ec.ruleARN), text: ec.ruleARN}
	vars[VarIngestionTime] = value{json: marshalNoEscape(ec.ingested), text: ec.ingested}
	if m, ok := doc.(map[string]any); ok {
		noDetail := make(map[string]any, len(m))
		for k, v := range m {
			if k != "detail" {
				noDetail[k] = v
			}
		}
		vars[VarEvent], _ = valueOf(noDetail)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, ec.raw); err == nil {
		vars[VarEventJSON] = value{json: compact.Bytes(), text: compact.String()}
	}
	return tr.tmpl.render(vars)
}
