package cloudformation

import "github.com/awslabs/goformation/v7/cloudformation/scheduler"

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

// Schedules returns the template's EventBridge Scheduler schedules, sorted by logical id.
func Schedules() ([]Schedule, error) { return fromTemplate((*parsed).schedules) }

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
