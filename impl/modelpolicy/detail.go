package modelpolicy

import (
	"sync"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
	"github.com/nexixai/agentos/internal/audit"
)

// callDetail is what a call's audit record tells besides its fields: typed, and encoded
// once as the record's canonical detail (a map[string]any per call cost more to build
// and to encode than the rest of the audit path). Each member appears under the same
// conditions as before, with the same key and value.
type callDetail struct {
	runID string
	// decided: the policy decided (policy_revision, decision, and reasons or obligations).
	decided bool
	// quota is the quota that refused the call, when hasQuota.
	quota    string
	hasQuota bool
	errMsg   string
	hasErr   bool
	status   int
	hasStat  bool
	stream   bool
	// maxTokens is the completion size sent upstream; written when positive.
	maxTokens int64
	// served: an upstream answered (deployment, attempts, tokens).
	served         bool
	deployment     string
	attempts       int
	fallbackModel  string
	usage          provider.Usage
	usageEstimated bool
}

func (d *callDetail) setError(msg string) { d.errMsg, d.hasErr = msg, true }
func (d *callDetail) setStatus(code int)  { d.status, d.hasStat = code, true }

var detailWriters = sync.Pool{New: func() any { return audit.NewDetailWriter(512) }}

// encodeDetail encodes the call's detail, members in key order.
func (c *call) encodeDetail() audit.EncodedDetail {
	d := &c.detail
	w := detailWriters.Get().(*audit.DetailWriter)
	defer detailWriters.Put(w)
	w.Reset(512)
	if d.served {
		w.Int("attempts", int64(d.attempts))
		w.Int("completion_tokens", d.usage.CompletionTokens)
	}
	if d.decided {
		w.String("decision", decisionWord(c.decision.Allow))
	}
	if d.served {
		w.String("deployment", d.deployment)
	}
	if d.hasErr {
		w.String("error", d.errMsg)
	}
	if d.fallbackModel != "" {
		w.String("fallback_model", d.fallbackModel)
	}
	if d.maxTokens > 0 {
		w.Int("max_tokens", d.maxTokens)
	}
	w.String("model", c.model)
	if d.decided && c.decision.Allow && len(c.decision.Obligations) > 0 {
		w.Any("obligations", c.decision.Obligations)
	}
	if d.decided {
		w.String("policy_revision", c.decision.Revision)
	}
	if d.served {
		w.Int("prompt_tokens", d.usage.PromptTokens)
	}
	if d.hasQuota {
		w.String("quota", d.quota)
	}
	if d.decided && !c.decision.Allow {
		w.Strings("reasons", c.decision.Reasons)
	}
	if d.runID != "" {
		w.String("run_id", d.runID)
	}
	if d.hasStat {
		w.Int("status", int64(d.status))
	}
	if d.stream {
		w.Bool("stream", true)
	}
	if d.served {
		w.Int("total_tokens", d.usage.TotalTokens)
		if d.usageEstimated {
			w.Bool("usage_estimated", true)
		}
	}
	return w.Detail()
}
