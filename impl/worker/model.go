package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/nexixai/agentos/internal/httpbody"
)

// message is an OpenAI chat message.
type message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type toolDef struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// chatBody is a streamed chat completion request. Its fields are in alphabetical order,
// as encoding/json writes a map's keys.
type chatBody struct {
	Messages      []message `json:"messages"`
	Model         string    `json:"model"`
	Stream        bool      `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []toolDef `json:"tools,omitempty"`
}

// completion is what one streamed model call produced.
type completion struct {
	content   string
	toolCalls []toolCall
	finish    string
	usage     usage
	// tail holds the deltas not yet posted when the stream ended.
	tail string
}

// streamChat calls Model Policy's OpenAI-compatible chat completions with streaming and
// hands every content delta to onDelta as it arrives. It uses net/http: the generated
// client reads an event stream to its end before returning.
func (w *Worker) streamChat(ctx context.Context, cred runCred, model string, msgs []message, tools []toolDef, onDelta func(string)) (completion, error) {
	body := chatBody{Messages: msgs, Model: model, Stream: true, Tools: tools}
	body.StreamOptions.IncludeUsage = true
	data, err := json.Marshal(body)
	if err != nil {
		return completion{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.ModelPolicyURL+"/v1/chat/completions", bytes.NewReader(data))
	if err != nil {
		return completion{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	cred.setHeader(req.Header)
	resp, err := w.http.Do(req)
	if err != nil {
		return completion{}, fmt.Errorf("call model %s: %w", model, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		return completion{}, &modelError{status: resp.StatusCode, code: p.Code, detail: p.Detail}
	}
	var out completion
	calls := map[int]*toolCall{}
	done := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4<<10), 4<<20) // grows for long events; most are short
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		if string(line) == "[DONE]" {
			done = true
			break
		}
		chunk, err := decodeChunk(line)
		if err != nil {
			return out, fmt.Errorf("decode model stream: %w", err)
		}
		if chunk.errMsg != nil {
			return out, &modelError{status: http.StatusBadGateway, code: "model_stream_error", detail: *chunk.errMsg}
		}
		if chunk.usage != nil {
			out.usage = *chunk.usage
		}
		for _, c := range chunk.choices {
			if c.content != "" {
				out.content += c.content
				onDelta(c.content)
			}
			for _, tc := range c.toolCalls {
				cur := calls[tc.index]
				if cur == nil {
					cur = &toolCall{Type: "function"}
					calls[tc.index] = cur
				}
				if tc.id != "" {
					cur.ID = tc.id
				}
				cur.Function.Name += tc.name
				cur.Function.Arguments += tc.args
			}
			if c.finish != nil {
				out.finish = *c.finish
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read model stream: %w", err)
	}
	if done {
		_ = httpbody.DrainClose(resp.Body) // the connection goes back to the pool
	}
	for i := range len(calls) {
		if c := calls[i]; c != nil {
			out.toolCalls = append(out.toolCalls, *c)
		}
	}
	return out, nil
}

// modelError is a model call the gateway refused or could not complete.
type modelError struct {
	status       int
	code, detail string
}

func (e *modelError) Error() string {
	return fmt.Sprintf("model call failed: %d %s: %s", e.status, e.code, e.detail)
}
