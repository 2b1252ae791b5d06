package modelpolicy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestOpenAISDKChat(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.openai()
	ctx := context.Background()

	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "builtin-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
	})
	require.NoError(t, err)
	require.Equal(t, "You said: hello gateway", resp.Choices[0].Message.Content)
	require.Positive(t, resp.Usage.TotalTokens)
}

func TestOpenAISDKStreaming(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.openai()
	ctx := context.Background()
	for _, model := range []string{"builtin-chat", "up-chat"} {
		for _, withUsage := range []bool{false, true} {
			params := openai.ChatCompletionNewParams{
				Model:    shared.ChatModel(model),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me please")},
			}
			if withUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			s := c.Chat.Completions.NewStreaming(ctx, params)
			acc := openai.ChatCompletionAccumulator{}
			chunks := 0
			for s.Next() {
				acc.AddChunk(s.Current())
				chunks++
			}
			require.NoError(t, s.Err(), model)
			require.Greater(t, chunks, 2, model)
			require.NotEmpty(t, acc.Choices[0].Message.Content, model)
			if withUsage {
				require.Positive(t, acc.Usage.TotalTokens, "%s: usage relayed when asked", model)
			} else {
				require.Zero(t, acc.Usage.TotalTokens, "%s: the usage chunk the gateway asked for is not relayed", model)
			}
		}
	}
	last, ok := b.up.Last()
	require.True(t, ok)
	require.Contains(t, string(last.Body), `"include_usage":true`, "the gateway asks the upstream for usage")
}

func TestOpenAISDKToolCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.openai()
	ctx := context.Background()
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "lookup",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
	})}
	params := openai.ChatCompletionNewParams{
		Model:    "builtin-chat",
		Tools:    tools,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("find it\n/tool lookup {\"q\": \"answer\"}")},
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	call := resp.Choices[0].Message.ToolCalls[0]
	require.Equal(t, "lookup", call.Function.Name)
	require.JSONEq(t, `{"q":"answer"}`, call.Function.Arguments)

	// The agent loop: return the tool result, get the final answer.
	params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(), openai.ToolMessage("42", call.ID))
	resp, err = c.Chat.Completions.New(ctx, params)
	require.NoError(t, err)
	require.Equal(t, "The tool returned: 42", resp.Choices[0].Message.Content)

	// Streamed tool calls accumulate the same.
	params.Messages = params.Messages[:1]
	s := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	var finished []openai.FinishedChatCompletionToolCall
	for s.Next() {
		acc.AddChunk(s.Current())
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	require.NoError(t, s.Err())
	require.Len(t, finished, 1)
	require.Equal(t, "lookup", finished[0].Name)
	require.JSONEq(t, `{"q":"answer"}`, finished[0].Arguments)
}

func TestOpenAISDKEmbeddingsAndModels(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.openai()
	ctx := context.Background()
	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "builtin-embedding",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the cat sat on the mat", "a cat on a mat", "stock market report"}},
	})
	require.NoError(t, err)
	require.Len(t, emb.Data, 3)
	dot := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	require.Greater(t, dot(emb.Data[0].Embedding, emb.Data[1].Embedding), dot(emb.Data[0].Embedding, emb.Data[2].Embedding))

	emb, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:          "builtin-embedding",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("base64 please")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	require.NoError(t, err)
	require.Len(t, emb.Data[0].Embedding, 256)

	page, err := c.Models.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	require.Equal(t, []string{"builtin-chat", "builtin-embedding", "up-chat", "up-embedding"}, ids)
}

func TestOpenAISDKReadsProblems(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	c := b.openai()
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "no-such-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Equal(t, 404, apiErr.StatusCode)
	require.Contains(t, apiErr.Message, "no-such-model")
	require.Equal(t, "not_found", apiErr.Type)
}

func TestUnknownFieldsAreForwarded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	body := `{"model":"up-chat","messages":[{"role":"user","content":"hi","x_msg":1}],"vendor":{"top_k":5,"nested":[1,"a"]},"temperature":0.25}`
	resp, out := b.post(t, "/v1/chat/completions", body)
	require.Equal(t, 200, resp.StatusCode, string(out))
	last, _ := b.up.Last()
	var sent map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(last.Body, &sent))
	require.JSONEq(t, `{"top_k":5,"nested":[1,"a"]}`, string(sent["vendor"]))
	require.Equal(t, `0.25`, string(sent["temperature"]))
	require.Equal(t, `"upstream-model"`, string(sent["model"]), "the model name is mapped")
	require.Contains(t, string(last.Body), `"x_msg":1`)
	require.Equal(t, `4096`, string(sent["max_tokens"]), "the default bundle's max_tokens obligation is applied")
}

// A stream is relayed as its chunks arrive: events that arrive together go out in one
// write, but the gateway never holds one back waiting for the next.
func TestStreamIsRelayedAsItArrives(t *testing.T) {
	t.Parallel()
	const gap = 150 * time.Millisecond
	b := setup(t, setupOpts{upstream: upstreamtest.Behavior{Words: 3, ChunkDelay: gap}})
	c := b.openai()
	s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "up-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("slowly")},
	})
	var arrivals []time.Time
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			arrivals = append(arrivals, time.Now())
		}
	}
	require.NoError(t, s.Err())
	require.Len(t, arrivals, 3, "one chunk per word")
	for i := 1; i < len(arrivals); i++ {
		require.Greater(t, arrivals[i].Sub(arrivals[i-1]), gap/2, "chunk %d came with the one after it", i)
	}
}
