package cloudformation

import (
	"encoding/json"
	"fmt"

	"github.com/awslabs/goformation/v7/cloudformation/events"
)

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

// Rules returns the template's EventBridge rules, sorted by logical id.
func Rules() ([]Rule, error) { return fromTemplate((*parsed).rules) }

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
		rule, err := p.rule(id, er, jds)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// rule reads the rule id; jds are the template's job definitions (a Batch
// target's attempts default to its job definition's).
func (p *parsed) rule(id string, er *events.Rule, jds map[string]JobDefinition) (Rule, error) {
	pattern, err := json.Marshal(er.EventPattern)
	if err != nil {
		return Rule{}, fmt.Errorf("cloudformation: rule %s: event pattern: %w", id, err)
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
		rule.Targets = append(rule.Targets, p.target(t, jds))
	}
	return rule, nil
}

func (p *parsed) target(t events.Rule_Target, jds map[string]JobDefinition) Target {
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
		p.batchParameters(&tg, bp, jds)
	}
	if rp := t.RetryPolicy; rp != nil {
		tg.RetryAttempts = derefInt(rp.MaximumRetryAttempts)
		tg.MaxEventAgeSeconds = derefInt(rp.MaximumEventAgeInSeconds)
	}
	if t.DeadLetterConfig != nil {
		tg.DeadLetter = p.logicalID(deref(t.DeadLetterConfig.Arn))
	}
	return tg
}

// batchParameters fills the Batch fields of tg: job definition, name, array
// size, and attempts (the target's RetryStrategy over the definition's).
func (p *parsed) batchParameters(tg *Target, bp *events.Rule_BatchParameters, jds map[string]JobDefinition) {
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
