package provider

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mapStreamEvents is how Stream built its chunks before they were typed: maps, which
// encoding/json writes with sorted keys. The typed chunks must encode to the same bytes.
func mapStreamEvents(b *Builtin, body []byte) [][]byte {
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		panic(err)
	}
	a := b.answer(&cr)
	id, created := b.id(body), b.now().Unix()
	chunk := func(delta map[string]any, finish any) []byte {
		out, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": cr.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}},
		})
		return out
	}
	events := [][]byte{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
	if len(a.calls) > 0 {
		for i, c := range a.calls {
			events = append(events, chunk(map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "id": callID(id, i), "type": "function",
				"function": map[string]any{"name": c.name, "arguments": ""},
			}}}, nil))
			for _, piece := range pieces(c.args, 16) {
				events = append(events, chunk(map[string]any{"tool_calls": []any{map[string]any{
					"index": i, "function": map[string]any{"arguments": piece},
				}}}, nil))
			}
		}
	} else {
		for i, w := range strings.Fields(a.text) {
			if i > 0 {
				w = " " + w
			}
			events = append(events, chunk(map[string]any{"content": w}, nil))
		}
	}
	events = append(events, chunk(map[string]any{}, a.finishReason))
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		out, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": cr.Model, "choices": []any{},
			"usage": map[string]int64{"prompt_tokens": a.prompt, "completion_tokens": a.completion, "total_tokens": a.prompt + a.completion},
		})
		events = append(events, out)
	}
	return events
}

// The builtin model streams byte for byte what it streamed when its chunks were maps:
// answers, tool calls (two at once, arguments in pieces, characters JSON escapes), the
// length limit and the usage chunk.
func TestBuiltinStreamChunksAreUnchanged(t *testing.T) {
	b := NewBuiltin("builtin", 0)
	b.now = func() time.Time { return time.Unix(1_790_000_000, 0) }
	tools := `"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}},` +
		`{"type":"function","function":{"name":"calc<&>","parameters":{"type":"object"}}}]`
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"user","content":"say <hello> & \"bye\" é \u2028 now"}]}`,
		`{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"one two three four five six"}]}`,
		`{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"one two three four five six"}]}`,
		`{"model":"m",` + tools + `,"messages":[{"role":"user","content":"please\n/tool lookup {\"q\": \"a long argument <with> & escapes é\"}\n/tool calc<&> {\"expression\": \"6 * 7\"}"}]}`,
		`{"model":"m",` + tools + `,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"/tool lookup"}]}`,
	} {
		s, err := b.Stream(context.Background(), Request{Op: OpChat, Body: []byte(body)})
		require.NoError(t, err)
		var got []string
		for {
			data, err := s.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, string(data))
		}
		var want []string
		for _, e := range mapStreamEvents(b, []byte(body)) {
			want = append(want, string(e))
		}
		require.Equal(t, want, got, body)
		if strings.Contains(body, "/tool") {
			require.Contains(t, strings.Join(got, ""), `"tool_calls":[{"function":{"arguments":"","name":"lookup"}`, "a tool call is streamed")
		}
	}
}
