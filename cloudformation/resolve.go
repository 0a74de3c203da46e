package cloudformation

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// resolver holds the intrinsic-function handlers given to goformation. goformation
// calls each handler with the function's (already processed) argument and the whole
// raw template.
type resolver struct {
	once       sync.Once
	params     map[string]map[string]any
	resources  map[string]bool
	conditions map[string]any
	condCache  map[string]bool
	evaluating map[string]bool
	err        error
}

func (r *resolver) init(tmpl any) {
	r.once.Do(func() {
		r.params = map[string]map[string]any{}
		r.resources = map[string]bool{}
		r.conditions = map[string]any{}
		r.condCache = map[string]bool{}
		r.evaluating = map[string]bool{}
		t, _ := tmpl.(map[string]any)
		if ps, ok := t["Parameters"].(map[string]any); ok {
			for name, v := range ps {
				if m, ok := v.(map[string]any); ok {
					r.params[name] = m
				}
			}
		}
		if rs, ok := t["Resources"].(map[string]any); ok {
			for name := range rs {
				r.resources[name] = true
			}
		}
		if cs, ok := t["Conditions"].(map[string]any); ok {
			r.conditions = cs
		}
	})
}

func (r *resolver) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// ref resolves the name of a Ref.
func (r *resolver) ref(name string) any {
	if v, ok := pseudoParameters[name]; ok {
		return v
	}
	if p, ok := r.params[name]; ok {
		def, ok := p["Default"]
		if !ok {
			return nil
		}
		typ, _ := p["Type"].(string)
		if s, ok := def.(string); ok && (typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")) {
			if s == "" {
				return []any{}
			}
			var out []any
			for _, item := range strings.Split(s, ",") {
				out = append(out, strings.TrimSpace(item))
			}
			return out
		}
		return def
	}
	if r.resources[name] {
		return name
	}
	r.fail("Ref to unknown name %q", name)
	return nil
}

func (r *resolver) refHandler(_ string, input any, tmpl any) any {
	r.init(tmpl)
	name, ok := input.(string)
	if !ok {
		r.fail("Ref argument is %T, not a string", input)
		return nil
	}
	return r.ref(name)
}

// getAtt gives "Resource.Attribute" for a GetAtt, keeping the logical id.
func (r *resolver) getAtt(input any) any {
	var res, attr string
	switch v := input.(type) {
	case string:
		res, attr, _ = strings.Cut(v, ".")
	case []any:
		if len(v) == 2 {
			res, _ = v[0].(string)
			attr, _ = v[1].(string)
		}
	}
	if res == "" || attr == "" {
		r.fail("malformed Fn::GetAtt %v", input)
		return nil
	}
	if !r.resources[res] {
		r.fail("Fn::GetAtt to unknown resource %q", res)
	}
	return res + "." + attr
}

func (r *resolver) getAttHandler(_ string, input any, tmpl any) any {
	r.init(tmpl)
	return r.getAtt(input)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) subHandler(_ string, input any, tmpl any) any {
	r.init(tmpl)
	var src string
	vars := map[string]any{}
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) != 2 {
			r.fail("Fn::Sub list form needs 2 elements, has %d", len(v))
			return nil
		}
		src, _ = v[0].(string)
		if m, ok := v[1].(map[string]any); ok {
			vars = m
		}
	default:
		r.fail("Fn::Sub argument is %T", input)
		return nil
	}
	return subVar.ReplaceAllStringFunc(src, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") { // ${!Literal} stands for ${Literal}
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			return text(v)
		}
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::") {
			return text(r.getAtt(name))
		}
		return text(r.ref(name))
	})
}

// splitHandler is Fn::Split returning []any, which goformation's Fn::Select
// takes (its own Fn::Split returns []string, which Fn::Select drops).
func (r *resolver) splitHandler(_ string, input any, tmpl any) any {
	r.init(tmpl)
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		r.fail("Fn::Split needs [delimiter, string], got %v", input)
		return nil
	}
	delim, ok1 := args[0].(string)
	str, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		r.fail("Fn::Split needs [delimiter, string], got %v", input)
		return nil
	}
	var out []any
	for _, part := range strings.Split(str, delim) {
		out = append(out, part)
	}
	return out
}

func (r *resolver) ifHandler(_ string, input any, tmpl any) any {
	r.init(tmpl)
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		r.fail("Fn::If needs [condition, then, else], got %v", input)
		return nil
	}
	name, _ := args[0].(string)
	if r.condition(name) {
		return args[1]
	}
	return args[2]
}

// condition evaluates a named condition of the template with parameter defaults.
func (r *resolver) condition(name string) bool {
	if v, ok := r.condCache[name]; ok {
		return v
	}
	expr, ok := r.conditions[name]
	if !ok {
		r.fail("unknown condition %q", name)
		return false
	}
	if r.evaluating[name] {
		r.fail("condition %q refers to itself", name)
		return false
	}
	r.evaluating[name] = true
	v, ok := r.eval(expr).(bool)
	delete(r.evaluating, name)
	if !ok {
		r.fail("condition %q is not a boolean", name)
	}
	r.condCache[name] = v
	return v
}

// eval evaluates a raw (unprocessed) condition expression.
func (r *resolver) eval(expr any) any {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return expr
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Ref":
			s, _ := arg.(string)
			return r.ref(s)
		case "Condition":
			s, _ := arg.(string)
			return r.condition(s)
		case "Fn::Sub":
			return r.subHandler(fn, arg, nil)
		case "Fn::Join":
			if len(args) != 2 {
				r.fail("Fn::Join needs [delimiter, list]")
				return ""
			}
			delim, _ := args[0].(string)
			parts, _ := r.eval(args[1]).([]any)
			texts := make([]string, len(parts))
			for i, p := range parts {
				texts[i] = text(r.eval(p))
			}
			return strings.Join(texts, delim)
		case "Fn::Equals":
			if len(args) != 2 {
				r.fail("Fn::Equals needs 2 arguments")
				return false
			}
			return text(r.eval(args[0])) == text(r.eval(args[1]))
		case "Fn::Not":
			if len(args) != 1 {
				r.fail("Fn::Not needs 1 argument")
				return false
			}
			b, _ := r.eval(args[0]).(bool)
			return !b
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				b, _ := r.eval(a).(bool)
				if b != and {
					return !and
				}
			}
			return and
		}
	}
	return expr
}
