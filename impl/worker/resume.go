package worker

import (
	"encoding/json"

	"github.com/nexixai/agentos/gen/orchestratorapi"
)

// resumed is where an earlier attempt of a run left off, rebuilt from the step events
// (model.message, tool.call, tool.result) the lease carries as history.
type resumed struct {
	// msgs is the conversation after the recorded steps (without instructions and input).
	msgs []message
	// steps is the number of model calls recorded; usage their summed usage.
	steps int
	usage orchestratorapi.Usage
	// final is set when the last recorded model message was an answer without tool
	// calls: the earlier attempt ended before it could complete the run.
	final *string
	// pending are the last model message's tool calls without a recorded result; they
	// run again. Calls with a recorded result never do.
	pending []toolCall
	// announced holds the ids of tool calls whose tool.call event is recorded.
	announced map[string]bool
	// results holds the recorded results of the last model message's tool calls.
	results map[string]string
	// lastCalls are the last model message's tool calls when some are pending; their
	// tool messages follow once the pending ones ran.
	lastCalls []toolCall
}

// resume rebuilds a run's progress from its history. Events it cannot read are skipped:
// at worst a step runs again, which is what a first attempt would have done.
func resume(history []orchestratorapi.RunEvent) resumed {
	r := resumed{announced: map[string]bool{}, results: map[string]string{}}
	var last *message // the last model message, whose tool results are still being collected
	closeStep := func() {
		if last == nil {
			return
		}
		r.msgs = append(r.msgs, *last)
		for _, c := range last.ToolCalls {
			content, ok := r.results[c.ID]
			if !ok {
				// Only the last step can lack a result: the next model call is made once
				// every result is recorded. Keep the conversation well formed regardless.
				content = "error: the result of this call was lost"
			}
			r.msgs = append(r.msgs, message{Role: "tool", Content: content, ToolCallID: c.ID})
		}
		last = nil
		r.results = map[string]string{}
	}
	for _, e := range history {
		switch e.Type {
		case "model.message":
			closeStep()
			var m struct {
				Content   string     `json:"content"`
				ToolCalls []toolCall `json:"tool_calls"`
				Usage     *usage     `json:"usage"`
			}
			if !decodeEventData(e.Data, &m) {
				continue
			}
			r.steps++
			if m.Usage != nil {
				r.usage.PromptTokens += m.Usage.PromptTokens
				r.usage.CompletionTokens += m.Usage.CompletionTokens
			}
			last = &message{Role: "assistant", Content: m.Content, ToolCalls: m.ToolCalls}
		case "tool.call":
			var c struct {
				ID string `json:"id"`
			}
			if decodeEventData(e.Data, &c) {
				r.announced[c.ID] = true
			}
		case "tool.result":
			var res struct {
				ID      string `json:"id"`
				Content string `json:"content"`
			}
			if decodeEventData(e.Data, &res) {
				r.results[res.ID] = res.Content
			}
		}
	}
	if last == nil {
		return r
	}
	if len(last.ToolCalls) == 0 {
		r.final = &last.Content
		r.msgs = append(r.msgs, *last)
		return r
	}
	for _, c := range last.ToolCalls {
		if _, ok := r.results[c.ID]; !ok {
			r.pending = append(r.pending, c)
		}
	}
	if len(r.pending) == 0 {
		closeStep()
		return r
	}
	r.msgs = append(r.msgs, *last) // the tool messages follow once the pending calls ran
	r.lastCalls = last.ToolCalls
	return r
}

func decodeEventData(d orchestratorapi.RunEventData, v any) bool {
	m := make(map[string]json.RawMessage, len(d))
	for k, raw := range d {
		m[k] = json.RawMessage(raw)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
