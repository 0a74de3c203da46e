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
//   - Fn::Split gives a list that goformation's Fn::Select can index.
//   - Fn::Sub substitutes all of the above (both the string and the list form).
//
// Files: cloudformation.go (the embedded template, parsing, lookups),
// resolve.go (the intrinsic functions), rules.go, jobdefs.go and schedules.go
// (what is read from the template).
package cloudformation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	goformation "github.com/awslabs/goformation/v7"
	cfn "github.com/awslabs/goformation/v7/cloudformation"
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

type parsed struct {
	tpl       *cfn.Template
	resources map[string]string // logical id -> resource type
	condition func(string) bool // a named condition with the parameters parsed with
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
			"Fn::Split":  r.splitHandler,
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
	p := &parsed{tpl: tpl, resources: map[string]string{}, condition: r.condition}
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

// fromTemplate runs read on the embedded template, parsed once.
func fromTemplate[T any](read func(*parsed) (T, error)) (T, error) {
	p, err := parseOnce()
	if err != nil {
		var zero T
		return zero, err
	}
	return read(p)
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
