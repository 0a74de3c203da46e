// Package cloudformation embeds imgbatch's CloudFormation template and hands the
// rest of imgbatch the template's own definitions — event rules, their targets and
// the Batch job definitions — so that local mode routes events and starts jobs with
// exactly what AWS would run. The template is the one source of truth: nothing here
// restates a pattern, a command or a retry setting.
//
// The template is parsed with goformation (github.com/awslabs/goformation/v7), with
// intrinsic functions resolved the way a stack created with default parameters
// would see them, except that references to resources keep the resource's logical
// id (there is no physical id outside AWS):
//
//   - Ref to a parameter gives its default (lists are split); Ref to a resource, and
//     the resource of a GetAtt, give the logical id ("JobQueue"; "DeadLetterQueue.Arn"
//     where a whole GetAtt is a value).
//   - Pseudo parameters resolve to local stand-ins: AWS::StackName "imgbatch",
//     AWS::Region "us-east-1", AWS::AccountId "000000000000", AWS::Partition "aws".
//   - Fn::If evaluates the template's Conditions with the parameter defaults.
//   - Fn::Sub substitutes all of the above (both the string and the list form).
package cloudformation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	goformation "github.com/awslabs/goformation/v7"
	cfn "github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/batch"
	"github.com/awslabs/goformation/v7/cloudformation/events"
	"github.com/awslabs/goformation/v7/cloudformation/scheduler"
	"github.com/awslabs/goformation/v7/intrinsics"
)

//go:embed imgbatch.yaml
var template []byte

// LocalStackName is the value AWS::StackName resolves to outside AWS.
const LocalStackName = "imgbatch"

// pseudoParameters are the local stand-ins for CloudFormation's pseudo parameters.
var pseudoParameters = map[string]any{
	"AWS::AccountId":        "000000000000",
	"AWS::NotificationARNs": []any{},
	"AWS::NoValue":          nil,
	"AWS::Partition":        "aws",
	"AWS::Region":           "us-east-1",
	"AWS::StackId":          "arn:aws:cloudformation:us-east-1:000000000000:stack/" + LocalStackName + "/local",
	"AWS::StackName":        LocalStackName,
	"AWS::URLSuffix":        "amazonaws.com",
}

// Template returns a copy of the CloudFormation template (YAML) as deployed.
func Template() []byte { return bytes.Clone(template) }

// Rule is an AWS::Events::Rule of the template.
type Rule struct {
	LogicalID string
	// Name is the rule's Name property as resolved locally
	// (for example "imgbatch-run-requested").
	Name string
	// Pattern is the JSON text of the EventPattern (compact, keys sorted).
	Pattern string
	// EventBus is the logical id of the bus the rule is on ("" = default bus), and
	// EventBusName that bus's Name as resolved locally (for example "imgbatch").
	EventBus, EventBusName string
	// State is ENABLED or DISABLED.
	State   string
	Targets []Target
}

// Target is one target of a Rule.
type Target struct {
	ID string
	// Kind is the kind of thing the target's Arn refers to, from the referenced
	// resource's type ("batch" for a job queue, "sns", "sqs", "lambda", "events",
	// "states", …) or from the service field of a literal ARN.
	Kind string
	// Arn is the logical id of the target resource, or the ARN as written when the
	// target is not a resource of the template.
	Arn string
	// InputPathsMap and InputTemplate are the InputTransformer, verbatim.
	InputPathsMap map[string]string
	InputTemplate string
	// Input and InputPath are the target's other input settings, if any.
	Input, InputPath string
	// ArraySize is BatchParameters.ArrayProperties.Size with parameters resolved to
	// their defaults (0 = not an array job).
	ArraySize int
	// JobDefinition is the logical id of the Batch job definition (see JobDefinitions).
	JobDefinition string
	JobName       string
	// JobAttempts is the number of attempts the submitted job gets: the target's
	// BatchParameters.RetryStrategy.Attempts when set (it replaces the job
	// definition's whole retry strategy), else the job definition's Attempts.
	JobAttempts int
	// RetryAttempts and MaxEventAgeSeconds are the target's RetryPolicy: how often and
	// for how long EventBridge retries delivering an event to the target.
	RetryAttempts      int
	MaxEventAgeSeconds int
	// DeadLetter is the logical id (or ARN) of the target's dead-letter queue.
	DeadLetter string
	// RoleArn is the logical id (or ARN) of the role EventBridge assumes.
	RoleArn string
}

// EvaluateOnExit is one entry of a job definition's retry strategy. Patterns are
// Batch globs: exact text, optionally ending with '*'.
type EvaluateOnExit struct {
	Action                               string // RETRY or EXIT
	OnExitCode, OnReason, OnStatusReason string
}

// JobDefinition is an AWS::Batch::JobDefinition of the template.
type JobDefinition struct {
	LogicalID string
	// Name is the JobDefinitionName as resolved locally (for example "imgbatch-worker-ec2").
	Name string
	// Platform is EC2 or FARGATE.
	Platform string
	// Image is the container image as resolved locally (a logical id may stand in for
	// the repository URI).
	Image string
	// Command is the container command, with Batch's Ref::name placeholders kept.
	Command []string
	// Environment is the container environment. Values that name a resource of the
	// stack hold its logical id (for example IMGBATCH_WORK_BUCKET = "WorkBucket").
	Environment map[string]string
	Vcpus       float64
	MemoryMiB   int
	// Attempts is RetryStrategy.Attempts (1 when unset); RetryOn its EvaluateOnExit.
	Attempts int
	RetryOn  []EvaluateOnExit
	// TimeoutSeconds is Timeout.AttemptDurationSeconds (0 = none).
	TimeoutSeconds int
	// DefaultParameters are the job definition's Parameters: the values Batch puts in
	// for Ref::name when the submitted job does not set them.
	DefaultParameters map[string]string
}

// Schedule is an AWS::Scheduler::Schedule of the template.
type Schedule struct {
	LogicalID  string
	Expression string
	Timezone   string
	State      string
	// TargetArn is the target as resolved locally (for example
	// "arn:aws:scheduler:::aws-sdk:batch:submitJob").
	TargetArn string
	// Input is the target input as resolved locally: resources appear as logical ids,
	// Scheduler context attributes such as <aws.scheduler.scheduled-time> are kept.
	Input          string
	RetryAttempts  int
	MaxEventAgeSec int
	DeadLetter     string
}

type parsed struct {
	tpl       *cfn.Template
	resources map[string]string // logical id -> resource type
}

var parseOnce = sync.OnceValues(func() (*parsed, error) { return parse(template) })

// parse parses a template with this package's intrinsic resolution.
func parse(data []byte) (*parsed, error) { return parseWith(data, nil) }

// parseWith is parse with some parameters' values overridden (as a stack created
// with those parameter values would see them).
func parseWith(data []byte, overrides map[string]any) (*parsed, error) {
	r := &resolver{}
	opts := &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        r.refHandler,
			"Fn::GetAtt": r.getAttHandler,
			"Fn::Sub":    r.subHandler,
			"Fn::If":     r.ifHandler,
		},
		ParameterOverrides: overrides,
	}
	tpl, err := goformation.ParseYAMLWithOptions(data, opts)
	if err != nil {
		return nil, fmt.Errorf("cloudformation: parse template: %w", err)
	}
	if r.err != nil {
		return nil, fmt.Errorf("cloudformation: resolve template: %w", r.err)
	}
	p := &parsed{tpl: tpl, resources: map[string]string{}}
	for id, res := range tpl.Resources {
		p.resources[id] = res.AWSCloudFormationType()
	}
	return p, nil
}

// ParameterDefaults returns every template parameter's default value as text
// (lists comma-separated); parameters without a default are absent. It returns nil
// only if the embedded template cannot be parsed, which the package tests rule out.
func ParameterDefaults() map[string]string {
	p, err := parseOnce()
	if err != nil {
		return nil
	}
	return p.parameterDefaults()
}

func (p *parsed) parameterDefaults() map[string]string {
	out := map[string]string{}
	for name, prm := range p.tpl.Parameters {
		if prm.Default == nil {
			continue
		}
		out[name] = text(prm.Default)
	}
	return out
}

// Rules returns the template's EventBridge rules, sorted by logical id.
func Rules() ([]Rule, error) {
	p, err := parseOnce()
	if err != nil {
		return nil, err
	}
	return p.rules()
}

func (p *parsed) rules() ([]Rule, error) {
	jds, err := p.jobDefinitions()
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, id := range sortedKeys(p.tpl.Resources) {
		er, ok := p.tpl.Resources[id].(*events.Rule)
		if !ok {
			continue
		}
		pattern, err := json.Marshal(er.EventPattern)
		if err != nil {
			return nil, fmt.Errorf("cloudformation: rule %s: event pattern: %w", id, err)
		}
		rule := Rule{LogicalID: id, Name: deref(er.Name), Pattern: string(pattern), State: deref(er.State)}
		if rule.State == "" {
			rule.State = "ENABLED"
		}
		if bus := deref(er.EventBusName); bus != "" {
			rule.EventBus, rule.EventBusName = bus, bus
			if b, ok := p.tpl.Resources[bus].(*events.EventBus); ok {
				rule.EventBusName = b.Name
			}
		}
		for _, t := range er.Targets {
			tg := Target{
				ID:        t.Id,
				Arn:       p.logicalID(t.Arn),
				Input:     deref(t.Input),
				InputPath: deref(t.InputPath),
				RoleArn:   p.logicalID(deref(t.RoleArn)),
			}
			tg.Kind = p.kind(t.Arn)
			if it := t.InputTransformer; it != nil {
				tg.InputTemplate = it.InputTemplate
				tg.InputPathsMap = map[string]string{}
				for k, v := range it.InputPathsMap {
					tg.InputPathsMap[k] = v
				}
			}
			if bp := t.BatchParameters; bp != nil {
				tg.JobDefinition = p.logicalID(bp.JobDefinition)
				tg.JobName = bp.JobName
				if bp.ArrayProperties != nil {
					tg.ArraySize = derefInt(bp.ArrayProperties.Size)
				}
				if jd, ok := jds[tg.JobDefinition]; ok {
					tg.JobAttempts = jd.Attempts
				}
				if bp.RetryStrategy != nil && bp.RetryStrategy.Attempts != nil {
					tg.JobAttempts = *bp.RetryStrategy.Attempts
				}
			}
			if rp := t.RetryPolicy; rp != nil {
				tg.RetryAttempts = derefInt(rp.MaximumRetryAttempts)
				tg.MaxEventAgeSeconds = derefInt(rp.MaximumEventAgeInSeconds)
			}
			if t.DeadLetterConfig != nil {
				tg.DeadLetter = p.logicalID(deref(t.DeadLetterConfig.Arn))
			}
			rule.Targets = append(rule.Targets, tg)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// JobDefinitions returns the template's Batch job definitions by logical id.
func JobDefinitions() (map[string]JobDefinition, error) {
	p, err := parseOnce()
	if err != nil {
		return nil, err
	}
	return p.jobDefinitions()
}

func (p *parsed) jobDefinitions() (map[string]JobDefinition, error) {
	out := map[string]JobDefinition{}
	for id, res := range p.tpl.Resources {
		bj, ok := res.(*batch.JobDefinition)
		if !ok {
			continue
		}
		jd := JobDefinition{
			LogicalID:         id,
			Name:              deref(bj.JobDefinitionName),
			Platform:          "EC2",
			Environment:       map[string]string{},
			DefaultParameters: map[string]string{},
			Attempts:          1,
		}
		if len(bj.PlatformCapabilities) > 0 {
			jd.Platform = bj.PlatformCapabilities[0]
		}
		if params, ok := bj.Parameters.(map[string]any); ok {
			for k, v := range params {
				jd.DefaultParameters[k] = text(v)
			}
		}
		if rs := bj.RetryStrategy; rs != nil {
			if rs.Attempts != nil {
				jd.Attempts = *rs.Attempts
			}
			for _, e := range rs.EvaluateOnExit {
				jd.RetryOn = append(jd.RetryOn, EvaluateOnExit{
					Action:         strings.ToUpper(e.Action),
					OnExitCode:     deref(e.OnExitCode),
					OnReason:       deref(e.OnReason),
					OnStatusReason: deref(e.OnStatusReason),
				})
			}
		}
		if bj.Timeout != nil {
			jd.TimeoutSeconds = derefInt(bj.Timeout.AttemptDurationSeconds)
		}
		if cp := bj.ContainerProperties; cp != nil {
			jd.Image = cp.Image
			jd.Command = append([]string(nil), cp.Command...)
			for _, e := range cp.Environment {
				jd.Environment[deref(e.Name)] = deref(e.Value)
			}
			if cp.Vcpus != nil {
				jd.Vcpus = float64(*cp.Vcpus)
			}
			if cp.Memory != nil {
				jd.MemoryMiB = *cp.Memory
			}
			for _, rr := range cp.ResourceRequirements {
				v := deref(rr.Value)
				switch deref(rr.Type) {
				case "VCPU":
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						return nil, fmt.Errorf("cloudformation: job definition %s: VCPU %q: %w", id, v, err)
					}
					jd.Vcpus = f
				case "MEMORY":
					n, err := strconv.Atoi(v)
					if err != nil {
						return nil, fmt.Errorf("cloudformation: job definition %s: MEMORY %q: %w", id, v, err)
					}
					jd.MemoryMiB = n
				}
			}
		}
		out[id] = jd
	}
	return out, nil
}

// Schedules returns the template's EventBridge Scheduler schedules, sorted by logical id.
func Schedules() ([]Schedule, error) {
	p, err := parseOnce()
	if err != nil {
		return nil, err
	}
	return p.schedules()
}

func (p *parsed) schedules() ([]Schedule, error) {
	var out []Schedule
	for _, id := range sortedKeys(p.tpl.Resources) {
		s, ok := p.tpl.Resources[id].(*scheduler.Schedule)
		if !ok {
			continue
		}
		sc := Schedule{
			LogicalID:  id,
			Expression: s.ScheduleExpression,
			Timezone:   deref(s.ScheduleExpressionTimezone),
			State:      deref(s.State),
		}
		if t := s.Target; t != nil {
			sc.TargetArn = t.Arn
			sc.Input = deref(t.Input)
			if t.RetryPolicy != nil {
				sc.RetryAttempts = derefNum(t.RetryPolicy.MaximumRetryAttempts)
				sc.MaxEventAgeSec = derefNum(t.RetryPolicy.MaximumEventAgeInSeconds)
			}
			if t.DeadLetterConfig != nil {
				sc.DeadLetter = p.logicalID(deref(t.DeadLetterConfig.Arn))
			}
		}
		out = append(out, sc)
	}
	return out, nil
}

// logicalID maps a resolved reference ("X" from Ref, "X.Attr" from GetAtt) to the
// logical id X when X is a resource of the template; anything else is returned as is.
func (p *parsed) logicalID(s string) string {
	if _, ok := p.resources[s]; ok {
		return s
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		if _, ok := p.resources[s[:i]]; ok {
			return s[:i]
		}
	}
	return s
}

// kindByType names the target kinds of the resource types EventBridge can target.
var kindByType = map[string]string{
	"AWS::Batch::JobQueue":                 "batch",
	"AWS::SNS::Topic":                      "sns",
	"AWS::SQS::Queue":                      "sqs",
	"AWS::Lambda::Function":                "lambda",
	"AWS::Lambda::Alias":                   "lambda",
	"AWS::Lambda::Version":                 "lambda",
	"AWS::Events::EventBus":                "events",
	"AWS::Events::ApiDestination":          "api-destination",
	"AWS::StepFunctions::StateMachine":     "states",
	"AWS::Logs::LogGroup":                  "logs",
	"AWS::Kinesis::Stream":                 "kinesis",
	"AWS::KinesisFirehose::DeliveryStream": "firehose",
	"AWS::ECS::Cluster":                    "ecs",
	"AWS::CodeBuild::Project":              "codebuild",
	"AWS::CodePipeline::Pipeline":          "codepipeline",
	"AWS::SSM::Document":                   "ssm",
}

func (p *parsed) kind(arn string) string {
	if typ, ok := p.resources[p.logicalID(arn)]; ok {
		if k, ok := kindByType[typ]; ok {
			return k
		}
		if parts := strings.Split(typ, "::"); len(parts) == 3 {
			return strings.ToLower(parts[1])
		}
		return ""
	}
	if parts := strings.SplitN(arn, ":", 4); len(parts) == 4 && parts[0] == "arn" {
		return parts[2]
	}
	return ""
}

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

// text renders a resolved value as CloudFormation would put it into a string.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = text(x)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(v, ",")
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

func derefNum(f *float64) int {
	if f == nil {
		return 0
	}
	return int(*f)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
