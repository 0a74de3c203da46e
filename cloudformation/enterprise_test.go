package cloudformation

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

// enterprisePolicies are the job role's conditional policies: resource →
// its condition, the parameter that turns it on and a value for it.
var enterprisePolicies = map[string]struct{ cond, param, value string }{
	"JobRoleOutputKms":     {"HasOutputKmsKey", "OutputKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
	"JobRoleSourceKms":     {"HasSourceKmsKeys", "SourceKmsKeyArns", "arn:aws:kms:eu-west-1:444455556666:key/a,arn:aws:kms:eu-west-1:444455556666:key/b"},
	"JobRoleWorkBucketKms": {"HasWorkBucketKmsKey", "WorkBucketKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:key/feedface"},
	"JobRoleExtraSources":  {"HasExtraSourceBuckets", "ExtraSourceBucketNames", "partner-photos,archive.example"},
}

// TestEnterprisePoliciesOnlyWithTheirParameters: with the defaults no KMS or
// extra-bucket permission exists; each parameter turns on its own policy
// only, attached to the job role.
func TestEnterprisePoliciesOnlyWithTheirParameters(t *testing.T) {
	d, _ := loadDoc(Template())
	for id, e := range enterprisePolicies {
		r := d.resources[id]
		if r == nil {
			t.Fatalf("no resource %s", id)
		}
		if c := lookup(r, "Condition"); c == nil || c.Value != e.cond {
			t.Errorf("%s: condition %v, want %s", id, c, e.cond)
		}
		if roles := scalars(lookup(lookup(r, "Properties"), "Roles")); !reflect.DeepEqual(roles, []string{"JobRole"}) {
			t.Errorf("%s: attached to %v, want the job role", id, roles)
		}
	}
	p, err := parse(Template())
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range enterprisePolicies {
		if p.condition(e.cond) {
			t.Errorf("defaults: %s is on (%s)", id, e.cond)
		}
	}
	for id, e := range enterprisePolicies {
		p, err := parseWith(Template(), map[string]any{e.param: e.value})
		if err != nil {
			t.Fatal(err)
		}
		for other, o := range enterprisePolicies {
			if on := p.condition(o.cond); on != (other == id) {
				t.Errorf("%s=%q: %s on = %v", e.param, e.value, other, on)
			}
		}
	}
}

// TestExtraSourceBucketsPolicy: the list becomes object and bucket ARNs,
// with the read actions the worker and the planner use.
func TestExtraSourceBucketsPolicy(t *testing.T) {
	p, err := parseWith(Template(), map[string]any{"ExtraSourceBucketNames": "partner-photos,archive.example"})
	if err != nil {
		t.Fatal(err)
	}
	pol, ok := p.tpl.Resources["JobRoleExtraSources"].(*iam.Policy)
	if !ok {
		t.Fatalf("JobRoleExtraSources is %T", p.tpl.Resources["JobRoleExtraSources"])
	}
	raw, _ := json.Marshal(pol.PolicyDocument)
	var doc struct {
		Statement []struct {
			Sid      string
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"ReadExtraSources": {`["s3:GetObject","s3:GetObjectVersion"]`, `["arn:*:s3:::partner-photos/*","arn:*:s3:::archive.example/*"]`},
		"ListExtraSources": {`["s3:ListBucket","s3:GetBucketLocation"]`, `["arn:*:s3:::partner-photos","arn:*:s3:::archive.example"]`},
	}
	if len(doc.Statement) != len(want) {
		t.Fatalf("statements %s", raw)
	}
	for _, st := range doc.Statement {
		a, _ := json.Marshal(st.Action)
		r, _ := json.Marshal(st.Resource)
		if w := want[st.Sid]; string(a) != w[0] || string(r) != w[1] {
			t.Errorf("%s: actions %s on %s, want %s on %s", st.Sid, a, r, w[0], w[1])
		}
	}
}

// TestWorkBucketKmsEncryption: the created work bucket is encrypted with the
// given key (and a Bucket Key) instead of AES256.
func TestWorkBucketKmsEncryption(t *testing.T) {
	for _, key := range []string{"", "arn:aws:kms:eu-west-1:111122223333:key/feedface"} {
		p, err := parseWith(Template(), map[string]any{"WorkBucketKmsKeyArn": key})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(p.tpl.Resources["WorkBucket"])
		var b struct {
			Properties struct {
				BucketEncryption struct {
					ServerSideEncryptionConfiguration []struct {
						ServerSideEncryptionByDefault struct{ SSEAlgorithm, KMSMasterKeyID string }
						BucketKeyEnabled              bool
					}
				}
			}
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		rules := b.Properties.BucketEncryption.ServerSideEncryptionConfiguration
		if len(rules) != 1 {
			t.Fatalf("key %q: encryption rules %s", key, raw)
		}
		got := rules[0].ServerSideEncryptionByDefault
		switch {
		case key == "" && (got.SSEAlgorithm != "AES256" || got.KMSMasterKeyID != ""):
			t.Errorf("no key: %+v, want AES256", got)
		case key != "" && (got.SSEAlgorithm != "aws:kms" || got.KMSMasterKeyID != key || !rules[0].BucketKeyEnabled):
			t.Errorf("key %s: %+v bucket key %v", key, got, rules[0].BucketKeyEnabled)
		}
	}
}
