package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/provider"
)

type chatOut struct {
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		Prompt     int64 `json:"prompt_tokens"`
		Completion int64 `json:"completion_tokens"`
	} `json:"usage"`
}

func builtinChat(t *testing.T, body string) chatOut {
	t.Helper()
	resp, err := provider.NewBuiltin("b", 0).Do(context.Background(), provider.Request{Op: provider.OpChat, Body: []byte(body)})
	require.NoError(t, err)
	var out chatOut
	require.NoError(t, json.Unmarshal(resp.Body, &out))
	return out
}

func TestBuiltinChatBehaviour(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","function":{"name":"lookup","parameters":{}}},{"type":"function","function":{"name":"other"}}]`

	out := builtinChat(t, `{"model":"m","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello  world"}]}`)
	require.Equal(t, "You said: hello world", *out.Choices[0].Message.Content)
	require.Equal(t, "stop", out.Choices[0].FinishReason)
	require.EqualValues(t, 2+1+2+1, out.Usage.Prompt, "words plus one per message")
	require.EqualValues(t, 4, out.Usage.Completion)

	out = builtinChat(t, `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":[{"type":"text","text":"one two three"}]}]}`)
	require.Equal(t, "You said:", *out.Choices[0].Message.Content)
	require.Equal(t, "length", out.Choices[0].FinishReason)

	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"please\n/tool lookup {\"q\": \"x\"}"}]}`)
	require.Len(t, out.Choices[0].Message.ToolCalls, 1)
	require.Equal(t, "lookup", out.Choices[0].Message.ToolCalls[0].Function.Name)
	require.JSONEq(t, `{"q":"x"}`, out.Choices[0].Message.ToolCalls[0].Function.Arguments)
	require.Equal(t, "tool_calls", out.Choices[0].FinishReason)
	require.NotEmpty(t, out.Choices[0].Message.ToolCalls[0].ID)

	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"/tool missing"}]}`)
	require.Contains(t, *out.Choices[0].Message.Content, "cannot call missing")

	out = builtinChat(t, `{"model":"m",`+tools+`,"tool_choice":{"type":"function","function":{"name":"other"}},"messages":[{"role":"user","content":"find it"}]}`)
	require.Equal(t, "other", out.Choices[0].Message.ToolCalls[0].Function.Name)
	require.JSONEq(t, `{"input":"find it"}`, out.Choices[0].Message.ToolCalls[0].Function.Arguments)

	out = builtinChat(t, `{"model":"m",`+tools+`,"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, "lookup", out.Choices[0].Message.ToolCalls[0].Function.Name)

	out = builtinChat(t, `{"model":"m",`+tools+`,"tool_choice":"none","messages":[{"role":"user","content":"/tool lookup"}]}`)
	require.Empty(t, out.Choices[0].Message.ToolCalls)

	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"/tool lookup"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"lookup","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"42"}]}`)
	require.Equal(t, "The tool returned: 42", *out.Choices[0].Message.Content)

	// Several /tool lines are parallel calls with distinct ids; their results are
	// answered together, in order.
	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"/tool lookup {\"q\": 1}\n/tool other {\"q\": 2}"}]}`)
	require.Len(t, out.Choices[0].Message.ToolCalls, 2)
	require.Equal(t, "lookup", out.Choices[0].Message.ToolCalls[0].Function.Name)
	require.Equal(t, "other", out.Choices[0].Message.ToolCalls[1].Function.Name)
	require.JSONEq(t, `{"q":2}`, out.Choices[0].Message.ToolCalls[1].Function.Arguments)
	require.NotEqual(t, out.Choices[0].Message.ToolCalls[0].ID, out.Choices[0].Message.ToolCalls[1].ID)
	require.EqualValues(t, 2*(1+2), out.Usage.Completion, "1 + argument words, per call")

	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"/tool lookup\n/tool missing"}]}`)
	require.Empty(t, out.Choices[0].Message.ToolCalls)
	require.Contains(t, *out.Choices[0].Message.Content, "cannot call missing")

	out = builtinChat(t, `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"lookup","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"other","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"1"},{"role":"tool","tool_call_id":"b","content":"2"}]}`)
	require.Equal(t, "The tools returned: 1; 2", *out.Choices[0].Message.Content)
}

func TestBuiltinStreamsToolCalls(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","stream":true,"tools":[{"type":"function","function":{"name":"lookup"}}],"messages":[{"role":"user","content":"/tool lookup {\"query\": \"a long query that spans pieces\"}"}]}`
	s, err := provider.NewBuiltin("b", 0).Stream(context.Background(), provider.Request{Op: provider.OpChat, Body: []byte(body)})
	require.NoError(t, err)
	var args strings.Builder
	name, finish := "", ""
	for {
		data, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		var c struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						Function struct{ Name, Arguments string } `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		require.NoError(t, json.Unmarshal(data, &c))
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				name += tc.Function.Name
				args.WriteString(tc.Function.Arguments)
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	require.Equal(t, "lookup", name)
	require.JSONEq(t, `{"query":"a long query that spans pieces"}`, args.String())
	require.Equal(t, "tool_calls", finish)
}

func cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot
}

func TestBuiltinEmbeddings(t *testing.T) {
	t.Parallel()
	v1, n := provider.HashEmbedding("The cat sat on the mat", 128)
	require.EqualValues(t, 6, n)
	v2, _ := provider.HashEmbedding("a cat on a mat", 128)
	v3, _ := provider.HashEmbedding("quantum chromodynamics lecture", 128)
	var norm float64
	for _, f := range v1 {
		norm += float64(f) * float64(f)
	}
	require.InDelta(t, 1, math.Sqrt(norm), 1e-6, "L2-normalised")
	require.Greater(t, cosine(v1, v2), cosine(v1, v3)+0.3, "shared words score higher")
	again, _ := provider.HashEmbedding("The cat sat on the mat", 128)
	require.Equal(t, v1, again, "deterministic")

	b := provider.NewBuiltin("b", 32)
	resp, err := b.Do(context.Background(), provider.Request{Op: provider.OpEmbeddings, Body: []byte(`{"model":"e","input":"hi there","encoding_format":"base64","dimensions":8}`)})
	require.NoError(t, err)
	var out struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &out))
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	want, _ := provider.HashEmbedding("hi there", 8)
	require.Equal(t, want[3], math.Float32frombits(binary.LittleEndian.Uint32(raw[12:])))

	resp, err = b.Do(context.Background(), provider.Request{Op: provider.OpEmbeddings, Body: []byte(`{"model":"e","input":[[1,2,3],[4]]}`)})
	require.NoError(t, err)
	require.Contains(t, string(resp.Body), `"index":1`)
	_, err = b.Do(context.Background(), provider.Request{Op: provider.OpEmbeddings, Body: []byte(`{"model":"e","input":{"x":1}}`)})
	e, ok := provider.AsError(err)
	require.True(t, ok)
	require.Equal(t, 400, e.Status)
	_, err = b.Do(context.Background(), provider.Request{Op: provider.OpEmbeddings, Body: []byte(`{"model":"e","input":"x","dimensions":0}`)})
	require.Error(t, err)
}

func TestSetFieldsKeepsOtherBytes(t *testing.T) {
	t.Parallel()
	in := []byte(`{"model":"a", "z": [1, 2 ,3],"max_tokens":9000,"nested":{"k":"\u00e9"}}`)
	out, err := provider.SetFields(in, provider.Field{Key: "max_tokens", Value: []byte("100")}, provider.Field{Key: "stream_options", Value: []byte(`{"include_usage":true}`)})
	require.NoError(t, err)
	require.Equal(t, `{"model":"a","z":[1, 2 ,3],"max_tokens":100,"nested":{"k":"\u00e9"},"stream_options":{"include_usage":true}}`, string(out))
	require.Equal(t, `[1, 2 ,3]`, string(provider.GetField(in, "z")))
	require.Nil(t, provider.GetField(in, "missing"))
	_, err = provider.SetFields([]byte(`[1]`))
	require.Error(t, err)
}

// TestSetFieldsOnePassMatchesTwo: the router sets a call's edits and the deployment's
// model name in one pass; the bytes must be those of the two passes it replaced (the
// edits, then the model).
func TestSetFieldsOnePassMatchesTwo(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"model":"a","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[],"model":"a","max_tokens":9000}`,
		`{"model":"a","max_tokens":1,"max_completion_tokens":2,"stream_options":{"include_usage":false,"x":[1,{"y":null}]}}`,
		`{ "model" : "a" , "unknown" : {"deep":{"deeper":[1, 2.5e3, true, false, null]}} , "z" : "\u00e9\ud83d\ude00\"\\" }`,
		`{"model":"a","model":"b","max_tokens":5,"max_tokens":6,"extra":1}`,
		`{"mod\u0065l":"a","max_\u0074okens":5,"k\u00e9y":"v","日本":"語"}`,
		`{"messages":[{"role":"user","content":"😀 ünïcödé \t\n"}],"max_completion_tokens":7}`,
		`{}`,
		"{\n\t\"model\": \"a\",\n\t\"max_tokens\": 10\n}",
	}
	edits := [][]provider.Field{
		nil,
		{{Key: "max_tokens", Value: []byte("100")}},
		{{Key: "max_completion_tokens", Value: []byte("64")}, {Key: "max_tokens", Value: []byte("64")}},
		{{Key: "max_tokens", Value: []byte("8")}, {Key: "stream_options", Value: []byte(`{"include_usage":true}`)}},
	}
	model := provider.Field{Key: "model", Value: []byte(`"upstream/m\u00e9"`)}
	for _, body := range bodies {
		for _, e := range edits {
			first := []byte(body)
			if len(e) > 0 {
				var err error
				first, err = provider.SetFields(first, e...)
				require.NoError(t, err)
			}
			want, err := provider.SetFields(first, model)
			require.NoError(t, err)
			got, err := provider.SetFields([]byte(body), append(append([]provider.Field(nil), e...), model)...)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "body %s, edits %v", body, e)
		}
	}
}

func TestSetFieldsDuplicatesAndEscapes(t *testing.T) {
	t.Parallel()
	out, err := provider.SetFields([]byte(`{"a":1,"b":2,"a":3,"c\u0041":4}`), provider.Field{Key: "a", Value: []byte("9")}, provider.Field{Key: "d", Value: []byte(`"x"`)})
	require.NoError(t, err)
	require.Equal(t, `{"a":9,"b":2,"cA":4,"d":"x"}`, string(out))
	_, err = provider.SetFields([]byte(`{"a":1,}`), provider.Field{Key: "a", Value: []byte("9")})
	require.Error(t, err)
	_, err = provider.SetFields([]byte(`{"a":`), provider.Field{Key: "a", Value: []byte("9")})
	require.Error(t, err)
}
