package cloudformation

// A validator for the template that works on the raw YAML tree (gopkg.in/yaml.v3,
// short-form tags intact), so it sees exactly what CloudFormation will see:
//
//   - every Ref / Fn::GetAtt / Fn::Sub variable (${X}, ${X.Y}) / Fn::If condition /
//     Condition / DependsOn / Fn::FindInMap names something that exists;
//   - GetAtt attributes are known for the resource type;
//   - resource types are on an allow-list and known to goformation;
//   - property names exist, with exact case, on goformation's struct for the type
//     (goformation's own decoder rejects unknown names but, being encoding/json,
//     ignores case, and CloudFormation does not);
//   - IAM documents are least-privilege (see checkIAM).
//
// checkAll runs all of that plus the typed goformation parse; the mutation tests in
// cloudformation_test.go prove that each check fires.

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	cfn "github.com/awslabs/goformation/v7/cloudformation"
	"gopkg.in/yaml.v3"
)

// pseudoParameterNames are CloudFormation's pseudo parameters.
var pseudoParameterNames = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true,
	"AWS::Partition": true, "AWS::Region": true, "AWS::StackId": true,
	"AWS::StackName": true, "AWS::URLSuffix": true,
}

// allowedResourceTypes is what this template may create. Adding a type here is a
// deliberate act: it also needs an entry in getAttAttributes if anything GetAtts it.
var allowedResourceTypes = map[string]bool{
	"AWS::Batch::ComputeEnvironment": true,
	"AWS::Batch::JobDefinition":      true,
	"AWS::Batch::JobQueue":           true,
	"AWS::ECR::Repository":           true,
	"AWS::Events::EventBus":          true,
	"AWS::Events::Rule":              true,
	"AWS::IAM::InstanceProfile":      true,
	"AWS::IAM::Role":                 true,
	"AWS::IAM::Policy":               true, // conditional job-role grants (KMS keys, extra source buckets, the nightly recipe and source)
	"AWS::Logs::LogGroup":            true,
	"AWS::CloudWatch::Dashboard":     true,
	"AWS::S3::Bucket":                true,
	"AWS::S3::BucketPolicy":          true,
	"AWS::SNS::Subscription":         true,
	"AWS::SNS::Topic":                true,
	"AWS::SNS::TopicPolicy":          true,
	"AWS::SQS::Queue":                true,
	"AWS::SQS::QueuePolicy":          true,
	"AWS::Scheduler::Schedule":       true,
}

// getAttAttributes are the documented Fn::GetAtt attributes of the types we GetAtt.
var getAttAttributes = map[string][]string{
	"AWS::ECR::Repository":      {"Arn", "RepositoryUri"},
	"AWS::Events::EventBus":     {"Arn", "Name", "Policy"},
	"AWS::Events::Rule":         {"Arn"},
	"AWS::IAM::InstanceProfile": {"Arn"},
	"AWS::IAM::Role":            {"Arn", "RoleId"},
	"AWS::Logs::LogGroup":       {"Arn"},
	"AWS::S3::Bucket":           {"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	"AWS::SNS::Topic":           {"TopicArn", "TopicName"},
	"AWS::SQS::Queue":           {"Arn", "QueueName", "QueueUrl"},
}

// resourceAttributes are the keys allowed beside Type in a resource. goformation's
// resource decoder rejects CreationPolicy/UpdatePolicy, so those are left out.
var resourceAttributes = map[string]bool{
	"Type": true, "Properties": true, "Condition": true, "DependsOn": true,
	"DeletionPolicy": true, "UpdateReplacePolicy": true, "Metadata": true,
}

var knownTags = map[string]bool{
	"!Ref": true, "!Sub": true, "!GetAtt": true, "!If": true, "!Equals": true, "!Not": true,
	"!Join": true, "!Select": true, "!Split": true, "!FindInMap": true, "!ImportValue": true,
	"!Base64": true, "!Cidr": true, "!GetAZs": true, "!Condition": true, "!And": true, "!Or": true,
}

// longForms are the long-form intrinsic keys whose argument we check ourselves.
var longForms = map[string]bool{
	"Ref": true, "Fn::GetAtt": true, "Fn::Sub": true, "Fn::If": true, "Fn::FindInMap": true,
	"Fn::Equals": true, "Fn::Not": true, "Fn::And": true, "Fn::Or": true, "Fn::Join": true,
	"Fn::Select": true, "Fn::Split": true, "Fn::ImportValue": true, "Fn::Base64": true,
	"Fn::Cidr": true, "Fn::GetAZs": true, "Fn::Transform": true, "Fn::ToJsonString": true,
	"Fn::Length": true,
}

type doc struct {
	root       *yaml.Node
	params     map[string]*yaml.Node
	resources  map[string]*yaml.Node
	types      map[string]string
	conditions map[string]*yaml.Node
	mappings   map[string]*yaml.Node
	errs       []string
}

func loadDoc(data []byte) (*doc, error) {
	var file yaml.Node
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, err
	}
	if file.Kind != yaml.DocumentNode || len(file.Content) != 1 || file.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("template is not a YAML mapping")
	}
	d := &doc{root: file.Content[0], types: map[string]string{}}
	d.params = mappingOf(lookup(d.root, "Parameters"))
	d.resources = mappingOf(lookup(d.root, "Resources"))
	d.conditions = mappingOf(lookup(d.root, "Conditions"))
	d.mappings = mappingOf(lookup(d.root, "Mappings"))
	for id, r := range d.resources {
		if t := lookup(r, "Type"); t != nil {
			d.types[id] = t.Value
		}
	}
	return d, nil
}

func (d *doc) errorf(path, format string, args ...any) {
	d.errs = append(d.errs, path+": "+fmt.Sprintf(format, args...))
}

// lookup returns the value of key in a mapping node, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mappingOf(m *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if m == nil || m.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		out[m.Content[i].Value] = m.Content[i+1]
	}
	return out
}

// checkReferences walks the whole template.
func (d *doc) checkReferences() {
	topLevel := map[string]bool{
		"AWSTemplateFormatVersion": true, "Description": true, "Metadata": true, "Parameters": true,
		"Mappings": true, "Conditions": true, "Resources": true, "Outputs": true, "Transform": true,
	}
	for i := 0; i+1 < len(d.root.Content); i += 2 {
		if k := d.root.Content[i].Value; !topLevel[k] {
			d.errorf(k, "unknown top-level section")
		}
	}
	if len(d.resources) == 0 {
		d.errorf("Resources", "no resources")
	}
	for name, c := range d.conditions {
		d.walk("Conditions."+name, c, nil, true)
	}
	for _, id := range sortedKeys(d.resources) {
		r := d.resources[id]
		path := "Resources." + id
		if r.Kind != yaml.MappingNode {
			d.errorf(path, "not a mapping")
			continue
		}
		for i := 0; i+1 < len(r.Content); i += 2 {
			k, v := r.Content[i].Value, r.Content[i+1]
			switch {
			case !resourceAttributes[k]:
				d.errorf(path, "unknown resource attribute %q", k)
			case k == "Condition":
				d.checkCondition(path+".Condition", v.Value)
			case k == "DependsOn":
				for _, n := range scalars(v) {
					if _, ok := d.resources[n]; !ok {
						d.errorf(path+".DependsOn", "DependsOn unknown resource %q", n)
					}
				}
			case k == "Properties":
				d.walk(path+".Properties", v, nil, false)
			}
		}
		if d.types[id] == "" {
			d.errorf(path, "no Type")
		}
	}
	outputs := mappingOf(lookup(d.root, "Outputs"))
	for _, name := range sortedKeys(outputs) {
		o := outputs[name]
		if c := lookup(o, "Condition"); c != nil {
			d.checkCondition("Outputs."+name+".Condition", c.Value)
		}
		if lookup(o, "Value") == nil {
			d.errorf("Outputs."+name, "no Value")
		}
		d.walk("Outputs."+name, o, nil, false)
	}
	for name, p := range d.params {
		if lookup(p, "Type") == nil {
			d.errorf("Parameters."+name, "no Type")
		}
	}
}

func scalars(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return nil
}

// walk checks every intrinsic function below n. subVars are the variables of an
// enclosing Fn::Sub list form; inCondition is true inside the Conditions section,
// where Ref may only name parameters.
func (d *doc) walk(path string, n *yaml.Node, subVars map[string]bool, inCondition bool) {
	if n == nil {
		return
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		if !knownTags[n.Tag] {
			d.errorf(path, "unknown tag %s", n.Tag)
			return
		}
		d.intrinsic(path, strings.TrimPrefix(n.Tag, "!"), n, inCondition)
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			k := n.Content[0].Value
			if longForms[k] || (k == "Condition" && inCondition) {
				name := strings.TrimPrefix(k, "Fn::")
				d.intrinsic(path, name, n.Content[1], inCondition)
				return
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if strings.HasPrefix(k, "Fn::") && !longForms[k] {
				d.errorf(path, "unknown intrinsic function %s", k)
			}
			d.walk(path+"."+k, n.Content[i+1], subVars, inCondition)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.walk(fmt.Sprintf("%s[%d]", path, i), c, subVars, inCondition)
		}
	}
}

// intrinsic checks one intrinsic function; fn is its short name (Ref, GetAtt, Sub…)
// and arg its argument node (the tagged node itself for the short form).
func (d *doc) intrinsic(path, fn string, arg *yaml.Node, inCondition bool) {
	path += ".!" + fn
	switch fn {
	case "Ref":
		if arg.Kind != yaml.ScalarNode {
			d.errorf(path, "Ref argument must be a name")
			return
		}
		d.checkRef(path, arg.Value, inCondition)
	case "GetAtt":
		switch arg.Kind {
		case yaml.ScalarNode:
			res, attr, ok := strings.Cut(arg.Value, ".")
			if !ok {
				d.errorf(path, "GetAtt %q is not Resource.Attribute", arg.Value)
				return
			}
			d.checkGetAtt(path, res, attr)
		case yaml.SequenceNode:
			if len(arg.Content) != 2 || arg.Content[0].Kind != yaml.ScalarNode {
				d.errorf(path, "GetAtt needs [Resource, Attribute]")
				return
			}
			if arg.Content[1].Kind == yaml.ScalarNode {
				d.checkGetAtt(path, arg.Content[0].Value, arg.Content[1].Value)
			} else {
				d.walk(path, arg.Content[1], nil, inCondition)
			}
		default:
			d.errorf(path, "GetAtt argument must be a string or a list")
		}
	case "Sub":
		switch arg.Kind {
		case yaml.ScalarNode:
			d.checkSub(path, arg.Value, nil)
		case yaml.SequenceNode:
			if len(arg.Content) != 2 || arg.Content[0].Kind != yaml.ScalarNode || arg.Content[1].Kind != yaml.MappingNode {
				d.errorf(path, "Sub list form needs [string, {variables}]")
				return
			}
			vars := map[string]bool{}
			for i := 0; i+1 < len(arg.Content[1].Content); i += 2 {
				k := arg.Content[1].Content[i].Value
				vars[k] = true
				d.walk(path+"."+k, arg.Content[1].Content[i+1], nil, inCondition)
			}
			d.checkSub(path, arg.Content[0].Value, vars)
			for v := range vars {
				if !strings.Contains(arg.Content[0].Value, "${"+v+"}") {
					d.errorf(path, "Sub variable %q is never used", v)
				}
			}
		default:
			d.errorf(path, "Sub argument must be a string or a list")
		}
	case "If":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 || arg.Content[0].Kind != yaml.ScalarNode {
			d.errorf(path, "If needs [Condition, then, else]")
			return
		}
		d.checkCondition(path, arg.Content[0].Value)
		d.walk(path+"[1]", arg.Content[1], nil, inCondition)
		d.walk(path+"[2]", arg.Content[2], nil, inCondition)
	case "Condition":
		d.checkCondition(path, arg.Value)
	case "FindInMap":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
			d.errorf(path, "FindInMap needs [Map, TopKey, SecondKey]")
			return
		}
		if arg.Content[0].Kind == yaml.ScalarNode && arg.Content[0].Tag != "!Ref" {
			if _, ok := d.mappings[arg.Content[0].Value]; !ok {
				d.errorf(path, "FindInMap unknown mapping %q", arg.Content[0].Value)
			}
		}
		for i, c := range arg.Content {
			d.walk(fmt.Sprintf("%s[%d]", path, i), c, nil, inCondition)
		}
	default: // Equals, Not, And, Or, Join, Select, Split, ImportValue, Base64, Cidr, GetAZs
		if arg.Kind == yaml.ScalarNode && arg.Tag != "" && !strings.HasPrefix(arg.Tag, "!!") {
			d.walk(path, arg, nil, inCondition)
			return
		}
		for i, c := range arg.Content {
			d.walk(fmt.Sprintf("%s[%d]", path, i), c, nil, inCondition)
		}
	}
}

func (d *doc) checkRef(path, name string, inCondition bool) {
	if pseudoParameterNames[name] {
		return
	}
	if _, ok := d.params[name]; ok {
		return
	}
	if _, ok := d.resources[name]; ok {
		if inCondition {
			d.errorf(path, "Ref to resource %q inside a condition (only parameters allowed)", name)
		}
		return
	}
	d.errorf(path, "Ref to unknown parameter or resource %q", name)
}

func (d *doc) checkGetAtt(path, res, attr string) {
	typ, ok := d.types[res]
	if !ok {
		if _, isParam := d.params[res]; isParam {
			d.errorf(path, "GetAtt on parameter %q", res)
		} else {
			d.errorf(path, "GetAtt on unknown resource %q", res)
		}
		return
	}
	attrs, ok := getAttAttributes[typ]
	if !ok {
		d.errorf(path, "GetAtt on %s (%s): add the type's attributes to getAttAttributes", res, typ)
		return
	}
	for _, a := range attrs {
		if a == attr {
			return
		}
	}
	d.errorf(path, "GetAtt %s.%s: %s has no attribute %q", res, attr, typ, attr)
}

var subVarRe = regexp.MustCompile(`\$\{([^}]*)\}`)

func (d *doc) checkSub(path, s string, vars map[string]bool) {
	for _, m := range subVarRe.FindAllStringSubmatch(s, -1) {
		name := m[1]
		switch {
		case strings.HasPrefix(name, "!"): // ${!Literal}
		case vars[name]:
		case pseudoParameterNames[name]:
		case strings.Contains(name, "."):
			res, attr, _ := strings.Cut(name, ".")
			d.checkGetAtt(path, res, attr)
		default:
			d.checkRef(path, name, false)
		}
	}
}

func (d *doc) checkCondition(path, name string) {
	if _, ok := d.conditions[name]; !ok {
		d.errorf(path, "unknown condition %q", name)
	}
}

// checkTypes checks resource types against the allow-list and goformation.
func (d *doc) checkTypes() {
	known := cfn.AllResources()
	for _, id := range sortedKeys(d.types) {
		t := d.types[id]
		if !allowedResourceTypes[t] {
			d.errorf("Resources."+id, "resource type %s is not on the allow-list", t)
		}
		if _, ok := known[t]; !ok {
			d.errorf("Resources."+id, "resource type %s is unknown to goformation", t)
		}
	}
}

// checkProperties checks property names, with exact case, against goformation's
// struct for each resource type.
func (d *doc) checkProperties() {
	known := cfn.AllResources()
	for _, id := range sortedKeys(d.resources) {
		res, ok := known[d.types[id]]
		if !ok {
			continue // reported by checkTypes
		}
		d.checkShape("Resources."+id+".Properties", lookup(d.resources[id], "Properties"), reflect.TypeOf(res))
	}
}

// checkShape checks node against Go type t (a goformation property type).
func (d *doc) checkShape(path string, n *yaml.Node, t reflect.Type) {
	if n == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Tag == "!If" && n.Kind == yaml.SequenceNode && len(n.Content) == 3 {
		d.checkShape(path+"[then]", n.Content[1], t)
		d.checkShape(path+"[else]", n.Content[2], t)
		return
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return // another intrinsic: its value is only known at deploy time
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		if k := n.Content[0].Value; longForms[k] {
			if k == "Fn::If" && n.Content[1].Kind == yaml.SequenceNode && len(n.Content[1].Content) == 3 {
				d.checkShape(path+"[then]", n.Content[1].Content[1], t)
				d.checkShape(path+"[else]", n.Content[1].Content[2], t)
			}
			return
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorf(path, "expected a mapping for %s", t.Name())
			return
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			if !ok {
				d.errorf(path, "unknown property %q for %s (known: %s)", k, t.Name(), strings.Join(sortedKeys(fields), ", "))
				continue
			}
			d.checkShape(path+"."+k, n.Content[i+1], ft)
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				d.checkShape(fmt.Sprintf("%s[%d]", path, i), c, t.Elem())
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				d.checkShape(path+"."+n.Content[i].Value, n.Content[i+1], t.Elem())
			}
		}
	}
}

// iamResourceStar lists the only actions allowed with Resource "*", each because
// AWS offers no resource-level permission for it.
var iamResourceStar = map[string]string{
	"ecr:GetAuthorizationToken": "returns a registry-wide token; no resource-level permissions",
}

// iamManagedPolicies lists the AWS managed policies roles may attach.
var iamManagedPolicies = map[string]string{
	"AmazonEC2ContainerServiceforEC2Role": "the ECS agent on Batch EC2 instances (AWS's documented instance role policy)",
}

// policyDocuments returns every IAM policy document of the template with a path.
func (d *doc) policyDocuments() map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for id, r := range d.resources {
		props := lookup(r, "Properties")
		switch d.types[id] {
		case "AWS::IAM::Role":
			if pol := lookup(props, "Policies"); pol != nil {
				for i, p := range pol.Content {
					out[fmt.Sprintf("Resources.%s.Policies[%d]", id, i)] = lookup(p, "PolicyDocument")
				}
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy",
			"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
			out["Resources."+id+".PolicyDocument"] = lookup(props, "PolicyDocument")
		}
	}
	return out
}

// checkIAM enforces least privilege on every Allow statement: no "*" or "service:*"
// actions, no NotAction / NotResource, no Principal "*", and Resource "*" only for
// the actions in iamResourceStar. Deny statements (TLS-only guards) may be broad.
// Roles must trust exactly one AWS service and attach only iamManagedPolicies.
func (d *doc) checkIAM() {
	docs := d.policyDocuments()
	for _, path := range sortedKeys(docs) {
		pd := docs[path]
		if pd == nil {
			d.errorf(path, "no PolicyDocument")
			continue
		}
		stmts := lookup(pd, "Statement")
		if stmts == nil || stmts.Kind != yaml.SequenceNode {
			d.errorf(path, "Statement must be a list")
			continue
		}
		for i, st := range stmts.Content {
			sp := fmt.Sprintf("%s.Statement[%d]", path, i)
			effect := lookup(st, "Effect")
			if effect == nil || (effect.Value != "Allow" && effect.Value != "Deny") {
				d.errorf(sp, "Effect must be Allow or Deny")
				continue
			}
			if effect.Value == "Deny" {
				continue
			}
			if lookup(st, "NotAction") != nil || lookup(st, "NotResource") != nil || lookup(st, "NotPrincipal") != nil {
				d.errorf(sp, "NotAction/NotResource/NotPrincipal in an Allow statement")
			}
			if p := lookup(st, "Principal"); p != nil && p.Kind == yaml.ScalarNode && p.Value == "*" {
				d.errorf(sp, `Allow to Principal "*"`)
			}
			actions := scalars(lookup(st, "Action"))
			if len(actions) == 0 {
				d.errorf(sp, "no Action")
			}
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					d.errorf(sp, "wildcard action %q", a)
				}
			}
			res := lookup(st, "Resource")
			if res == nil {
				if lookup(st, "Principal") == nil {
					d.errorf(sp, "no Resource")
				}
				continue
			}
			isStar := func(n *yaml.Node) bool {
				return n.Kind == yaml.ScalarNode && (n.Tag == "" || n.Tag == "!!str") && n.Value == "*"
			}
			star := isStar(res)
			if res.Kind == yaml.SequenceNode {
				for _, c := range res.Content {
					star = star || isStar(c)
				}
			}
			if star {
				for _, a := range actions {
					if _, ok := iamResourceStar[a]; !ok {
						d.errorf(sp, `Resource "*" for %q, which is not on the iamResourceStar allow-list`, a)
					}
				}
			}
		}
	}
	for _, id := range sortedKeys(d.resources) {
		if d.types[id] != "AWS::IAM::Role" {
			continue
		}
		props := lookup(d.resources[id], "Properties")
		path := "Resources." + id
		if lookup(props, "RoleName") != nil {
			d.errorf(path, "RoleName set: the stack would need CAPABILITY_NAMED_IAM")
		}
		trust := lookup(lookup(props, "AssumeRolePolicyDocument"), "Statement")
		if trust == nil || len(trust.Content) != 1 {
			d.errorf(path, "trust policy must have exactly one statement")
		} else {
			st := trust.Content[0]
			svc := scalars(lookup(lookup(st, "Principal"), "Service"))
			if len(svc) != 1 || !strings.HasSuffix(svc[0], ".amazonaws.com") {
				d.errorf(path, "trust policy must name exactly one AWS service principal, has %v", svc)
			}
			if a := scalars(lookup(st, "Action")); len(a) != 1 || a[0] != "sts:AssumeRole" {
				d.errorf(path, "trust policy action must be sts:AssumeRole, is %v", a)
			}
		}
		if mp := lookup(props, "ManagedPolicyArns"); mp != nil {
			for _, arn := range mp.Content {
				name := arn.Value[strings.LastIndex(arn.Value, "/")+1:]
				if _, ok := iamManagedPolicies[name]; !ok {
					d.errorf(path, "managed policy %q is not on the iamManagedPolicies allow-list", arn.Value)
				}
			}
		}
	}
}

// checkAll runs every check on a template and returns the problems found.
func checkAll(data []byte) []string {
	d, err := loadDoc(data)
	if err != nil {
		return []string{"yaml: " + err.Error()}
	}
	d.checkReferences()
	d.checkTypes()
	d.checkProperties()
	d.checkIAM()
	if _, err := parse(data); err != nil {
		d.errs = append(d.errs, "goformation: "+err.Error())
	}
	sort.Strings(d.errs)
	return d.errs
}
