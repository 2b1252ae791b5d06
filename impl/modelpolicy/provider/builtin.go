package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// DefaultEmbeddingDimensions is the builtin embedding size when neither the provider
// configuration nor the request names one.
const DefaultEmbeddingDimensions = 256

// MaxEmbeddingDimensions bounds the builtin embedding size a request may ask for.
const MaxEmbeddingDimensions = 4096

// Builtin is the embedded, deterministic model provider, so everything runs offline.
// Its behaviour is a contract (README "The builtin model"):
//
// Chat: the answer is computed from the last message.
//   - A tool result (role "tool") is answered with "The tool returned: <content>";
//     several trailing tool results with "The tools returned: <a>; <b>" in order.
//   - A user message holding a line "/tool NAME {json}" calls tool NAME with those
//     arguments (default {}) when the request offers a function of that name; when it
//     does not, the answer says so. Each such line is one call: several lines make
//     parallel tool calls (ids call_<hash>, call_<hash>_1, ...). tool_choice {"type":"function","function":{"name":N}}
//     calls N, and "required" calls the first offered tool, with {"input": <text>} unless
//     a /tool line gives arguments; tool_choice "none" never calls a tool.
//   - Otherwise the answer is "You said: <text of the last user message>".
//
// Tokens are whitespace-separated words: prompt_tokens is the number of words in every
// message's text plus one per message; completion_tokens the words of the answer (of a
// tool call: 1 + the words of its arguments). max_tokens (or max_completion_tokens) cuts
// the answer to that many words with finish_reason "length". Streams send the role, then
// one chunk per word, then the finish reason, then (with stream_options.include_usage) a
// usage chunk, then [DONE]; a tool call streams its name, then its arguments in pieces.
//
// Embeddings: feature hashing of the lower-cased words (runs of letters and digits) of
// each input into `dimensions` (request, else the provider's, else 256) buckets with a
// hash-derived sign, L2-normalised; texts that share words score higher. Usage counts
// the words. encoding_format "base64" returns little-endian float32s as OpenAI does.
type Builtin struct {
	name       string
	dimensions int
	now        func() time.Time
}

// NewBuiltin returns the builtin provider; dimensions <= 0 means 256.
func NewBuiltin(name string, dimensions int) *Builtin {
	if dimensions <= 0 {
		dimensions = DefaultEmbeddingDimensions
	}
	return &Builtin{name: name, dimensions: dimensions, now: time.Now}
}

// Name implements Provider.
func (b *Builtin) Name() string { return b.name }

// Type implements Provider.
func (b *Builtin) Type() string { return "builtin" }

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// text returns the message's text: a string content, or its text parts joined by "\n".
func (m chatMessage) text() string {
	c := bytes.TrimSpace(m.Content)
	if len(c) == 0 || c[0] == 'n' {
		return ""
	}
	if c[0] == '"' {
		var s string
		_ = json.Unmarshal(c, &s)
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(c, &parts)
	var texts []string
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// builtinCall is one tool call of the builtin model's answer.
type builtinCall struct{ name, args string }

// answer is what the builtin model replies.
type answer struct {
	text         string
	calls        []builtinCall
	finishReason string
	prompt       int64
	completion   int64
}

func (b *Builtin) answer(req *chatRequest) answer {
	var a answer
	for _, m := range req.Messages {
		a.prompt += int64(len(strings.Fields(m.text()))) + 1
	}
	var last chatMessage
	if n := len(req.Messages); n > 0 {
		last = req.Messages[n-1]
	}
	var userText string
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			userText = req.Messages[i].text()
			break
		}
	}
	offered := map[string]bool{}
	var first string
	for _, t := range req.Tools {
		if t.Function.Name != "" {
			offered[t.Function.Name] = true
			if first == "" {
				first = t.Function.Name
			}
		}
	}
	choice, forced := toolChoice(req.ToolChoice)
	switch {
	case last.Role == "tool":
		// The trailing tool results, in order: one per call of the previous answer.
		var results []string
		for i := len(req.Messages) - 1; i >= 0 && req.Messages[i].Role == "tool"; i-- {
			results = append([]string{req.Messages[i].text()}, results...)
		}
		if len(results) == 1 {
			a.text = "The tool returned: " + results[0]
		} else {
			a.text = "The tools returned: " + strings.Join(results, "; ")
		}
	case choice != "none":
		cues := toolCues(userText)
		if forced != "" || len(cues) == 0 {
			name, args := "", ""
			if len(cues) > 0 {
				args = cues[0].args
			}
			switch {
			case forced != "":
				name = forced
			case choice == "required":
				name = first
			}
			if len(cues) == 0 {
				b, _ := json.Marshal(map[string]string{"input": userText})
				args = string(b)
			}
			cues = nil
			if name != "" {
				cues = []builtinCall{{name, args}}
			}
		}
		if len(cues) == 0 {
			a.text = "You said: " + userText
			break
		}
		for _, c := range cues {
			if !offered[c.name] {
				a.text = fmt.Sprintf("I cannot call %s: it is not among the offered tools.", c.name)
				cues = nil
				break
			}
		}
		a.calls = cues
	default:
		a.text = "You said: " + userText
	}

	limit := int64(-1)
	if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	} else if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	a.finishReason = "stop"
	if len(a.calls) > 0 {
		a.finishReason = "tool_calls"
		for _, c := range a.calls {
			a.completion += 1 + int64(len(strings.Fields(c.args)))
		}
		return a
	}
	words := strings.Fields(a.text)
	if limit >= 0 && int64(len(words)) > limit {
		words = words[:limit]
		a.finishReason = "length"
	}
	a.text = strings.Join(words, " ")
	a.completion = int64(len(words))
	return a
}

// toolChoice returns "none", "auto", "required" (or "" when absent) and the name of a
// forced function.
func toolChoice(raw json.RawMessage) (string, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' && string(raw) == "null" {
		return "", ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, ""
	}
	var obj struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	_ = json.Unmarshal(raw, &obj)
	return "function", obj.Function.Name
}

// toolCues finds the "/tool NAME {json}" lines, in order.
func toolCues(text string) []builtinCall {
	var out []builtinCall
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		rest, found := strings.CutPrefix(line, "/tool ")
		if !found {
			continue
		}
		name, args, _ := strings.Cut(strings.TrimSpace(rest), " ")
		args = strings.TrimSpace(args)
		if args == "" || !json.Valid([]byte(args)) {
			args = "{}"
		}
		if name != "" {
			out = append(out, builtinCall{name, args})
		}
	}
	return out
}

// callID is the id of an answer's i-th tool call, derived from the response id.
func callID(responseID string, i int) string {
	if i == 0 {
		return "call_" + responseID[17:]
	}
	return fmt.Sprintf("call_%s_%d", responseID[17:], i)
}

func (b *Builtin) id(body []byte) string {
	sum := sha256.Sum256(body)
	return "chatcmpl-builtin-" + hex.EncodeToString(sum[:8])
}

func badRequest(format string, args ...any) *Error {
	return &Error{Kind: KindStatus, Status: 400, Message: fmt.Sprintf(format, args...)}
}

// Do implements Provider.
func (b *Builtin) Do(ctx context.Context, req Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Kind: KindCanceled, Err: err}
	}
	switch req.Op {
	case OpChat:
		return b.chat(req.Body)
	case OpEmbeddings:
		return b.embed(req.Body)
	}
	return nil, badRequest("operation %s is not supported", req.Op)
}

func (b *Builtin) chat(body []byte) (*Response, error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("invalid chat request: %v", err)
	}
	a := b.answer(&req)
	msg := map[string]any{"role": "assistant", "content": a.text}
	if len(a.calls) > 0 {
		msg["content"] = nil
		calls := make([]any, len(a.calls))
		for i, c := range a.calls {
			calls[i] = map[string]any{
				"id":       callID(b.id(body), i),
				"type":     "function",
				"function": map[string]any{"name": c.name, "arguments": c.args},
			}
		}
		msg["tool_calls"] = calls
	}
	usage := map[string]int64{"prompt_tokens": a.prompt, "completion_tokens": a.completion, "total_tokens": a.prompt + a.completion}
	out, err := json.Marshal(map[string]any{
		"id":      b.id(body),
		"object":  "chat.completion",
		"created": b.now().Unix(),
		"model":   req.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": a.finishReason, "logprobs": nil}},
		"usage":   usage,
	})
	if err != nil {
		return nil, err
	}
	return &Response{Body: out, Usage: Usage{Present: true, PromptTokens: a.prompt, CompletionTokens: a.completion, TotalTokens: a.prompt + a.completion}}, nil
}

// Stream implements Provider.
func (b *Builtin) Stream(ctx context.Context, req Request) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Kind: KindCanceled, Err: err}
	}
	if req.Op != OpChat {
		return nil, badRequest("operation %s cannot stream", req.Op)
	}
	var cr chatRequest
	if err := json.Unmarshal(req.Body, &cr); err != nil {
		return nil, badRequest("invalid chat request: %v", err)
	}
	a := b.answer(&cr)
	id, created := b.id(req.Body), b.now().Unix()
	chunk := func(delta any, finish *string) []byte {
		out, _ := json.Marshal(streamChunk{
			Choices: []streamChoice{{Delta: delta, FinishReason: finish}},
			Created: created, ID: id, Model: cr.Model, Object: "chat.completion.chunk",
		})
		return out
	}
	events := [][]byte{chunk(roleDelta{Role: "assistant"}, nil)}
	if len(a.calls) > 0 {
		for i, c := range a.calls {
			start := toolStartDelta{ToolCalls: []toolStart{{ID: callID(id, i), Index: i, Type: "function"}}}
			start.ToolCalls[0].Function.Name = c.name
			events = append(events, chunk(start, nil))
			for _, piece := range pieces(c.args, 16) {
				args := toolArgsDelta{ToolCalls: []toolArgs{{Index: i}}}
				args.ToolCalls[0].Function.Arguments = piece
				events = append(events, chunk(args, nil))
			}
		}
	} else {
		for i, w := range strings.Fields(a.text) {
			if i > 0 {
				w = " " + w
			}
			events = append(events, chunk(contentDelta{Content: w}, nil))
		}
	}
	events = append(events, chunk(struct{}{}, &a.finishReason))
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		out, _ := json.Marshal(usageChunk{
			Choices: []streamChoice{}, Created: created, ID: id, Model: cr.Model, Object: "chat.completion.chunk",
			Usage: usageCounts{CompletionTokens: a.completion, PromptTokens: a.prompt, TotalTokens: a.prompt + a.completion},
		})
		events = append(events, out)
	}
	return &sliceStream{ctx: ctx, events: events}, nil
}

// The stream's chunks, typed: a struct encodes without the map's reflection and key
// sorting. Fields are in alphabetical order, the order encoding/json gives a map's keys,
// so a chunk is byte for byte what the map it replaced encoded to.
type (
	streamChunk struct {
		Choices []streamChoice `json:"choices"`
		Created int64          `json:"created"`
		ID      string         `json:"id"`
		Model   string         `json:"model"`
		Object  string         `json:"object"`
	}
	usageChunk struct {
		Choices []streamChoice `json:"choices"`
		Created int64          `json:"created"`
		ID      string         `json:"id"`
		Model   string         `json:"model"`
		Object  string         `json:"object"`
		Usage   usageCounts    `json:"usage"`
	}
	usageCounts struct {
		CompletionTokens int64 `json:"completion_tokens"`
		PromptTokens     int64 `json:"prompt_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	}
	streamChoice struct {
		Delta        any       `json:"delta"`
		FinishReason *string   `json:"finish_reason"`
		Index        int       `json:"index"`
		Logprobs     *struct{} `json:"logprobs"`
	}
	roleDelta struct {
		Content string `json:"content"`
		Role    string `json:"role"`
	}
	contentDelta struct {
		Content string `json:"content"`
	}
	toolStartDelta struct {
		ToolCalls []toolStart `json:"tool_calls"`
	}
	toolStart struct {
		Function struct {
			Arguments string `json:"arguments"`
			Name      string `json:"name"`
		} `json:"function"`
		ID    string `json:"id"`
		Index int    `json:"index"`
		Type  string `json:"type"`
	}
	toolArgsDelta struct {
		ToolCalls []toolArgs `json:"tool_calls"`
	}
	toolArgs struct {
		Function struct {
			Arguments string `json:"arguments"`
		} `json:"function"`
		Index int `json:"index"`
	}
)

func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// sliceStream replays precomputed events.
type sliceStream struct {
	ctx    context.Context
	events [][]byte
	i      int
}

func (s *sliceStream) Next() ([]byte, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, &Error{Kind: KindCanceled, Err: err}
	}
	if s.i >= len(s.events) {
		return nil, io.EOF
	}
	s.i++
	return s.events[s.i-1], nil
}

// Ready implements Relay.Ready: every event is at hand.
func (s *sliceStream) Ready() bool { return true }

func (s *sliceStream) Close() error { return nil }

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// embeddingInputs decodes input: a string, an array of strings, an array of token ids or
// an array of arrays of token ids (tokens become the words "t<id>").
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("input is required")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		return ss, nil
	}
	tokens := func(ids []int64) string {
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = "t" + strconv.FormatInt(id, 10)
		}
		return strings.Join(parts, " ")
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return []string{tokens(ids)}, nil
	}
	var idss [][]int64
	if json.Unmarshal(raw, &idss) == nil && len(idss) > 0 {
		out := make([]string, len(idss))
		for i, ids := range idss {
			out[i] = tokens(ids)
		}
		return out, nil
	}
	return nil, fmt.Errorf("input must be a string, an array of strings, an array of token ids or an array of arrays of token ids")
}

func (b *Builtin) embed(body []byte) (*Response, error) {
	var req embeddingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("invalid embeddings request: %v", err)
	}
	inputs, err := embeddingInputs(req.Input)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	dims := b.dimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > MaxEmbeddingDimensions {
			return nil, badRequest("dimensions must be between 1 and %d", MaxEmbeddingDimensions)
		}
		dims = *req.Dimensions
	}
	var tokens int64
	data := make([]any, len(inputs))
	for i, text := range inputs {
		vec, n := HashEmbedding(text, dims)
		tokens += n
		var emb any = vec
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	if tokens == 0 {
		tokens = 1 // usage is never zero
	}
	out, err := json.Marshal(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens},
	})
	if err != nil {
		return nil, err
	}
	return &Response{Body: out, Usage: Usage{Present: true, PromptTokens: tokens, TotalTokens: tokens}}, nil
}

// HashEmbedding is the builtin embedding of text in dims dimensions and the number of
// words it counted.
func HashEmbedding(text string, dims int) ([]float32, int64) {
	vec := make([]float64, dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		sign := 1.0
		if sum>>63 == 1 {
			sign = -1
		}
		vec[sum%uint64(dims)] += sign
	}
	var norm float64
	for _, v := range vec {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	if norm > 0 {
		for i, v := range vec {
			out[i] = float32(v / norm)
		}
	}
	return out, int64(len(words))
}
