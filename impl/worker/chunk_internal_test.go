package worker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceChunk is the chunk as encoding/json decodes it: what the worker read before
// decodeChunk, kept here as the reference.
type referenceChunk struct {
	Choices []struct {
		Delta struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// fromReference puts a referenceChunk in decodeChunk's shape.
func fromReference(r referenceChunk) streamChunk {
	var c streamChunk
	for _, ch := range r.Choices {
		cc := chunkChoice{content: ch.Delta.Content, finish: ch.FinishReason}
		for _, tc := range ch.Delta.ToolCalls {
			cc.toolCalls = append(cc.toolCalls, chunkToolCall{index: tc.Index, id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments})
		}
		c.choices = append(c.choices, cc)
	}
	c.usage = r.Usage
	if r.Error != nil {
		c.errMsg = &r.Error.Message
	}
	return c
}

var chunkSeeds = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"content":" wörld \"q\" \u00e9\n"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"calculator","arguments":""}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"expression\": \"6"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":17,"completion_tokens":5,"total_tokens":22}}`,
	`{"choices":null,"usage":null,"error":null}`,
	`{"error":{"message":"the model stream broke: upstream timed out","type":"upstream_timeout","code":"upstream_timeout","param":null,"request_id":"req_x"}}`,
	`{"choices":[{"delta":{"content":null,"tool_calls":null},"finish_reason":"stop","logprobs":{"content":[{"token":"a","logprob":-1.5}]}}],"vendor":[1,2,{"x":[]}]}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":null,"function":null}]}}]}`,
	`{"usage":{"prompt_tokens":1e2}}`,
	`{"choices":[{"delta":{"content":5}}]}`,
	`{"choices":[{"delta":{"content":"a"}}]} x`,
	`[]`,
	`{"choices":[{"delta":{"content":"a"}`,
	``,
}

func TestDecodeChunkMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range chunkSeeds {
		checkChunk(t, in)
	}
}

// checkChunk requires decodeChunk to succeed exactly when encoding/json does, with the
// same result. (encoding/json also matches keys case-insensitively, which no stream
// from Model Policy relies on: inputs with upper-case letters only must not panic.)
func checkChunk(t *testing.T, in string) {
	got, err := decodeChunk([]byte(in))
	if strings.ContainsFunc(in, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
		return
	}
	var ref referenceChunk
	refErr := json.Unmarshal([]byte(in), &ref)
	if refErr != nil {
		require.Error(t, err, "encoding/json refuses %q: %v", in, refErr)
		return
	}
	require.NoError(t, err, "%q", in)
	require.Equal(t, fromReference(ref), got, "%q", in)
}

func FuzzDecodeChunk(f *testing.F) {
	for _, in := range chunkSeeds {
		f.Add(in)
	}
	f.Fuzz(checkChunk)
}

// BenchmarkDecodeChunk compares decodeChunk with the encoding/json decoding it replaced,
// on a content chunk as the builtin model streams it.
func BenchmarkDecodeChunk(b *testing.B) {
	data := []byte(`{"choices":[{"delta":{"content":" answer"},"finish_reason":null,"index":0}],"created":1764158400,"id":"chatcmpl-builtin-4f0c2a","model":"builtin-chat","object":"chat.completion.chunk"}`)
	b.Run("jx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeChunk(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c referenceChunk
			if err := json.Unmarshal(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
