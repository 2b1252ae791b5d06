package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/nexixai/agentos/gen/modelpolicyapi"
	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/impl/modelpolicy/upstreamtest"
	"github.com/nexixai/agentos/internal/config"
	"github.com/nexixai/agentos/internal/platform"
	"github.com/nexixai/agentos/policy"
)

// mpCreds implements modelpolicyapi.SecuritySource; each field left empty is skipped.
type mpCreds struct{ tenant, token, admin string }

func (c mpCreds) TenantHeader(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.TenantHeader, error) {
	if c.tenant == "" {
		return modelpolicyapi.TenantHeader{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.TenantHeader{APIKey: c.tenant}, nil
}

func (c mpCreds) BearerAuth(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.BearerAuth, error) {
	if c.token == "" {
		return modelpolicyapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.BearerAuth{Token: c.token}, nil
}

func (c mpCreds) AdminToken(context.Context, modelpolicyapi.OperationName) (modelpolicyapi.AdminToken, error) {
	if c.admin == "" {
		return modelpolicyapi.AdminToken{}, ogenerrors.ErrSkipClientSecurity
	}
	return modelpolicyapi.AdminToken{Token: c.admin}, nil
}

// modelNode is an extra in-process node (orchestrator and Model Policy) for the model
// scenarios that need their own configuration: two scriptable test upstreams behind
// openai providers, and a policy directory.
//
// Models: up-chat (deployment up1/upstream-model), up-embedding (denied by the policy),
// fo-chat (up1 only, no retries, falling back to fo-backup on up2), retry-chat (up1,
// two retries), and the builtin models. Policy: builtin-*, up-chat, fo-*, retry-chat;
// tools memory_*; max_tokens capped at 64. Tenant "fetcher" may call http_fetch on
// 127.0.0.1 (internal targets allowed, 4 KiB bodies), tenant "strict_fetch" on every
// host (internal targets refused). One embedded worker runs the node's runs.
type modelNode struct {
	orchURL, mpURL string
	adminToken     string
	up1, up2       *upstreamtest.Server
	policyDir      string
	// tenants are the per-tenant settings of the policy data.
	tenants string
}

const modelNodePolicy = `{"agentos": {"model_settings": {"defaults": {"models": ["builtin-*", "up-chat", "fo-*", "retry-chat"], "tools": ["memory_*"], "max_tokens": %d}, "tenants": %s}}}`

var modelNodes sync.Map // *environment -> *modelNodeOnce

type modelNodeOnce struct {
	once sync.Once
	node *modelNode
	err  error
}

func (e *environment) modelNode() (*modelNode, error) {
	v, _ := modelNodes.LoadOrStore(e, &modelNodeOnce{})
	o := v.(*modelNodeOnce)
	o.once.Do(func() { o.node, o.err = startModelNode(e) })
	return o.node, o.err
}

func startModelNode(e *environment) (*modelNode, error) {
	if !e.inProcess {
		return nil, errors.New("model node scenarios need the in-process deployment")
	}
	n := &modelNode{up1: upstreamtest.New(upstreamtest.Behavior{}, true), up2: upstreamtest.New(upstreamtest.Behavior{}, true)}
	e.atExit(func() { n.up1.Close(); n.up2.Close() })
	dir := filepath.Join(e.tmp, "model-node")
	n.policyDir = filepath.Join(dir, "policy")
	if err := os.MkdirAll(n.policyDir, 0o700); err != nil {
		return nil, err
	}
	for _, name := range []string{"model.rego", "tool.rego"} {
		rego, err := policy.Bundle.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(n.policyDir, name), rego, 0o600); err != nil {
			return nil, err
		}
	}
	tenants, err := json.Marshal(map[string]any{
		e.tenantID("fetcher"):      map[string]any{"tools": []string{"http_fetch"}, "http_hosts": []string{"127.0.0.1"}, "http_allow_internal": true, "http_max_bytes": 4096},
		e.tenantID("strict_fetch"): map[string]any{"tools": []string{"http_fetch"}, "http_hosts": []string{"**"}},
	})
	if err != nil {
		return nil, err
	}
	n.tenants = string(tenants)
	if err := n.writePolicy(64); err != nil {
		return nil, err
	}
	providers := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(providers, []byte(fmt.Sprintf(`
providers:
  - {name: up1, type: openai, base_url: %q, api_key_env: MODEL_NODE_KEY}
  - {name: up2, type: openai, base_url: %q}
  - {name: builtin, type: builtin}
defaults: {timeout: 500ms, first_byte_timeout: 500ms, idle_timeout: 500ms, backoff: 5ms, max_backoff: 20ms, breaker_failures: 1000}
models:
  - {name: builtin-chat, type: chat, deployments: [{provider: builtin}]}
  - {name: builtin-embedding, type: embedding, deployments: [{provider: builtin}]}
  - {name: up-chat, type: chat, retries: 0, deployments: [{provider: up1, model: upstream-model}]}
  - {name: up-embedding, type: embedding, deployments: [{provider: up1}]}
  - {name: fo-chat, type: chat, retries: 0, deployments: [{provider: up1}], fallbacks: [fo-backup]}
  - {name: fo-backup, type: chat, retries: 0, deployments: [{provider: up2}]}
  - {name: retry-chat, type: chat, retries: 2, deployments: [{provider: up1}]}
`, n.up1.BaseURL(), n.up2.BaseURL())), 0o600); err != nil {
		return nil, err
	}
	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.OrchestratorAddr, cfg.ModelPolicyAddr, cfg.FederationAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditSink = "none"
	cfg.AdminToken = "adm_" + randomHex(16)
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.ModelProvidersFile = providers
	cfg.PolicyDir = n.policyDir
	cfg.Workers = 1
	if e.pgBaseURL != "" {
		u, drop, err := createSchema(e.pgBaseURL)
		if err != nil {
			return nil, err
		}
		e.atExit(drop)
		cfg.DatabaseURL = u
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{
		Services:  []string{platform.Orchestrator, platform.ModelPolicy},
		LookupEnv: func(name string) (string, bool) { return "sk-upstream-test", name == "MODEL_NODE_KEY" },
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = node.Serve(ctx); close(done) }()
	e.atExit(func() { cancel(); <-done })
	n.orchURL, n.mpURL, n.adminToken = node.URL(platform.Orchestrator), node.URL(platform.ModelPolicy), node.AdminToken
	return n, nil
}

func (n *modelNode) writePolicy(maxTokens int) error {
	// Write then rename, as config management does, so a reload never reads half a file.
	tmp := filepath.Join(n.policyDir, ".data.json.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(modelNodePolicy, maxTokens, n.tenants)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(n.policyDir, "data.json"))
}

// mpState is one scenario's model-policy state.
type mpState struct {
	w *world

	node       *modelNode
	completion *openai.ChatCompletion
	params     openai.ChatCompletionNewParams
	client     openai.Client
	streamText string
	streamUse  int64
	chunks     int
	streamErr  error
	rawStream  string
	toolCalls  []openai.ChatCompletionMessageToolCallUnion
	embeddings [][]float64
	models     []string
	apiKey     string
	apiKeyID   string
	apiKeyTen  string
	openaiErr  error
	noted      string
	decision   *modelpolicyapi.PolicyDecision
	codes      []int
	headers    []http.Header
	accepted   int64
	refusedHdr http.Header
	refusedOut []byte
	startErr   error
	files      map[string]string
	metrics    string
}

// mpClient is the generated Model Policy client at baseURL.
func (w *world) mpClient(baseURL string, c mpCreds) (*modelpolicyapi.Client, error) {
	return modelpolicyapi.NewClient(baseURL, c, modelpolicyapi.WithClient(w.httpClient()))
}

func (s *mpState) mpURL(onNode bool) (string, error) {
	if !onNode {
		return s.w.env.urls["modelpolicy"], nil
	}
	if s.node == nil {
		return "", errors.New("the model node was not started (add: Given the model node)")
	}
	return s.node.mpURL, nil
}

// tenantOn makes sure tenant alias exists on the model node (onNode) or the deployment.
func (s *mpState) tenantOn(alias string, onNode bool) (string, error) {
	id := s.w.env.tenantID(alias)
	if alias == "the default tenant" {
		return s.w.env.defaultTenant, nil
	}
	if onNode {
		return id, s.w.putTenantAt(s.node.orchURL, s.node.adminToken, id, "", nil, nil)
	}
	return id, nil
}

// openAI returns an OpenAI SDK client on the gateway as a tenant (X-Tenant-Id).
func (s *mpState) openAI(baseURL, tenantID string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(baseURL+"/v1/"),
		option.WithAPIKey("not-a-key"),
		option.WithHeader("X-Tenant-Id", tenantID),
		option.WithMaxRetries(0),
		option.WithHTTPClient(s.w.httpClient()),
	)
}

const who = `(the default tenant|tenant "[^"]*")`

func (s *mpState) resolve(whoText string, onNode bool) (openai.Client, string, error) {
	alias := strings.Trim(strings.TrimPrefix(whoText, "tenant "), `"`)
	base, err := s.mpURL(onNode)
	if err != nil {
		return openai.Client{}, "", err
	}
	id, err := s.tenantOn(alias, onNode)
	if err != nil {
		return openai.Client{}, "", err
	}
	return s.openAI(base, id), id, nil
}

func onNode(s string) bool { return s != "" }

func (s *mpState) complete(c openai.Client, model, text string) error {
	s.client = c
	s.params = openai.ChatCompletionNewParams{Model: shared.ChatModel(model), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
	s.completion, s.openaiErr = c.Chat.Completions.New(context.Background(), s.params)
	return nil
}

func (s *mpState) stream(c openai.Client, params openai.ChatCompletionNewParams) {
	st := c.Chat.Completions.NewStreaming(context.Background(), params)
	acc := openai.ChatCompletionAccumulator{}
	s.chunks = 0
	for st.Next() {
		acc.AddChunk(st.Current())
		s.chunks++
	}
	s.streamErr = st.Err()
	if len(acc.Choices) > 0 {
		s.streamText = acc.Choices[0].Message.Content
		s.toolCalls = acc.Choices[0].Message.ToolCalls
	}
	s.streamUse = acc.Usage.TotalTokens
}

func (w *world) registerModelPolicy(sc *godog.ScenarioContext) {
	s := &mpState{w: w, files: map[string]string{}}

	sc.Step(`^the model node$`, func() error {
		n, err := w.env.modelNode()
		if err != nil {
			return err
		}
		s.node = n
		n.up1.Reset(upstreamtest.Behavior{Words: 3})
		n.up2.Reset(upstreamtest.Behavior{Words: 3})
		return nil
	})

	// Completions through the OpenAI SDK.
	sc.Step(`^the OpenAI client of `+who+`( on the model node)? asks "([^"]*)" to complete "([^"]*)"$`, func(whoText, node, model, text string) error {
		c, _, err := s.resolve(whoText, onNode(node))
		if err != nil {
			return err
		}
		return s.complete(c, model, text)
	})
	sc.Step(`^the completion says "([^"]*)"$`, func(want string) error {
		if s.openaiErr != nil {
			return fmt.Errorf("the completion failed: %w", s.openaiErr)
		}
		if got := s.completion.Choices[0].Message.Content; got != want {
			return fmt.Errorf("completion %q, want %q", got, want)
		}
		return nil
	})
	sc.Step(`^the completion reports its token usage$`, func() error {
		u := s.completion.Usage
		if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			return fmt.Errorf("usage %+v", u)
		}
		return nil
	})
	sc.Step(`^the OpenAI client gets a (\d+) error whose message mentions "([^"]*)"$`, func(status int, want string) error {
		var apiErr *openai.Error
		if !errors.As(s.openaiErr, &apiErr) {
			return fmt.Errorf("want an OpenAI API error, got %v", s.openaiErr)
		}
		if apiErr.StatusCode != status || !strings.Contains(apiErr.Message, want) {
			return fmt.Errorf("error %d %q, want %d mentioning %q", apiErr.StatusCode, apiErr.Message, status, want)
		}
		return nil
	})

	// Streams.
	sc.Step(`^I stream a completion of "([^"]*)" from "([^"]*)" as the default tenant$`, func(text, model string) error {
		body, _ := json.Marshal(map[string]any{"model": model, "stream": true, "messages": []any{map[string]string{"role": "user", "content": text}}})
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {w.env.defaultTenant}}
		if err := w.send(http.MethodPost, w.env.urls["modelpolicy"]+"/v1/chat/completions", h, body); err != nil {
			return err
		}
		s.rawStream = string(w.body)
		return nil
	})
	sc.Step(`^the stream has more than (\d+) chunks that spell "([^"]*)"$`, func(n int, want string) error {
		if ct := w.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			return fmt.Errorf("content type %q", ct)
		}
		var text strings.Builder
		chunks := 0
		for _, ev := range strings.Split(s.rawStream, "\n\n") {
			data, ok := strings.CutPrefix(ev, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var c openai.ChatCompletionChunk
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				return fmt.Errorf("chunk %q: %w", data, err)
			}
			chunks++
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		if chunks <= n || text.String() != want {
			return fmt.Errorf("%d chunks spelling %q, want more than %d spelling %q", chunks, text.String(), n, want)
		}
		return nil
	})
	sc.Step(`^the stream ends with "([^"]*)"$`, func(want string) error {
		if !strings.HasSuffix(strings.TrimSpace(s.rawStream), want) {
			return fmt.Errorf("stream ends %q", truncate([]byte(s.rawStream[max(0, len(s.rawStream)-100):])))
		}
		return nil
	})
	sc.Step(`^the OpenAI client of `+who+`( on the model node)? streams "([^"]*)" from "([^"]*)"( with usage)?$`, func(whoText, node, text, model, usage string) error {
		c, _, err := s.resolve(whoText, onNode(node))
		if err != nil {
			return err
		}
		p := openai.ChatCompletionNewParams{Model: shared.ChatModel(model), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
		if usage != "" {
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		s.stream(c, p)
		return nil
	})
	sc.Step(`^the streamed completion says "([^"]*)"( and reports its usage)?$`, func(want, usage string) error {
		if s.streamErr != nil {
			return fmt.Errorf("the stream failed: %w", s.streamErr)
		}
		if s.streamText != want {
			return fmt.Errorf("streamed %q, want %q", s.streamText, want)
		}
		if usage != "" && s.streamUse <= 0 {
			return errors.New("the stream reported no usage")
		}
		return nil
	})
	sc.Step(`^the stream delivered (\d+) chunks and ended with an error mentioning "([^"]*)"$`, func(n int, want string) error {
		var se *ssestream.StreamError
		if !errors.As(s.streamErr, &se) || !strings.Contains(se.Message, want) {
			return fmt.Errorf("stream error %v, want a stream error mentioning %q", s.streamErr, want)
		}
		if s.chunks != n {
			return fmt.Errorf("%d chunks before the error, want %d", s.chunks, n)
		}
		return nil
	})

	// Tools.
	tool := func(name string) []openai.ChatCompletionToolUnionParam {
		return []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: name, Parameters: shared.FunctionParameters{"type": "object"},
		})}
	}
	sc.Step(`^the OpenAI client of the default tenant offers tool "([^"]*)" to "([^"]*)" and says "(.*)"$`, func(name, model, text string) error {
		s.client = s.openAI(w.env.urls["modelpolicy"], w.env.defaultTenant)
		s.params = openai.ChatCompletionNewParams{Model: shared.ChatModel(model), Tools: tool(name),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.ReplaceAll(text, `\"`, `"`))}}
		s.completion, s.openaiErr = s.client.Chat.Completions.New(context.Background(), s.params)
		if s.openaiErr == nil {
			s.toolCalls = s.completion.Choices[0].Message.ToolCalls
		}
		return nil
	})
	sc.Step(`^the OpenAI client of the default tenant streams with tool "([^"]*)" from "([^"]*)" saying "(.*)"$`, func(name, model, text string) error {
		c := s.openAI(w.env.urls["modelpolicy"], w.env.defaultTenant)
		s.stream(c, openai.ChatCompletionNewParams{Model: shared.ChatModel(model), Tools: tool(name),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.ReplaceAll(text, `\"`, `"`))}})
		return s.streamErr
	})
	sc.Step(`^the model calls "([^"]*)" with arguments "(.*)"$`, func(name, args string) error {
		if s.openaiErr != nil {
			return s.openaiErr
		}
		if len(s.toolCalls) != 1 {
			return fmt.Errorf("%d tool calls, want 1", len(s.toolCalls))
		}
		tc := s.toolCalls[0]
		var got, want any
		_ = json.Unmarshal([]byte(tc.Function.Arguments), &got)
		_ = json.Unmarshal([]byte(strings.ReplaceAll(args, `\"`, `"`)), &want)
		if tc.Function.Name != name || fmt.Sprint(got) != fmt.Sprint(want) || tc.ID == "" {
			return fmt.Errorf("tool call %s(%s) id %q, want %s(%s)", tc.Function.Name, tc.Function.Arguments, tc.ID, name, args)
		}
		return nil
	})
	sc.Step(`^the client sends "([^"]*)" back as the tool's result$`, func(result string) error {
		msg := s.completion.Choices[0].Message
		s.params.Messages = append(s.params.Messages, msg.ToParam(), openai.ToolMessage(result, msg.ToolCalls[0].ID))
		s.completion, s.openaiErr = s.client.Chat.Completions.New(context.Background(), s.params)
		return nil
	})

	// Embeddings and models.
	sc.Step(`^the OpenAI client of the default tenant embeds "([^"]*)", "([^"]*)" and "([^"]*)" with "([^"]*)"$`, func(a, b, c, model string) error {
		cl := s.openAI(w.env.urls["modelpolicy"], w.env.defaultTenant)
		res, err := cl.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{a, b, c}},
		})
		if err != nil {
			return err
		}
		s.embeddings = nil
		for _, d := range res.Data {
			s.embeddings = append(s.embeddings, d.Embedding)
		}
		return nil
	})
	dot := func(a, b []float64) float64 {
		var sum float64
		for i := range a {
			sum += a[i] * b[i]
		}
		return sum
	}
	sc.Step(`^it gets (\d+) embeddings of unit length$`, func(n int) error {
		if len(s.embeddings) != n {
			return fmt.Errorf("%d embeddings, want %d", len(s.embeddings), n)
		}
		for i, e := range s.embeddings {
			if l := math.Sqrt(dot(e, e)); math.Abs(l-1) > 1e-5 {
				return fmt.Errorf("embedding %d has length %f", i, l)
			}
		}
		return nil
	})
	sc.Step(`^the first embedding is closer to the second than to the third$`, func() error {
		e := s.embeddings
		if ab, ac := dot(e[0], e[1]), dot(e[0], e[2]); ab <= ac {
			return fmt.Errorf("cos(first, second) %f <= cos(first, third) %f", ab, ac)
		}
		return nil
	})
	sc.Step(`^the OpenAI client of `+who+` on the model node lists the models$`, func(whoText string) error {
		c, _, err := s.resolve(whoText, true)
		if err != nil {
			return err
		}
		page, err := c.Models.List(context.Background())
		if err != nil {
			return err
		}
		s.models = nil
		for _, m := range page.Data {
			s.models = append(s.models, m.ID)
		}
		return nil
	})
	sc.Step(`^the models are "([^"]*)"$`, func(list string) error {
		if got := strings.Join(s.models, ", "); got != list {
			return fmt.Errorf("models %q, want %q", got, list)
		}
		return nil
	})

	// Raw requests on the model node and what the upstream saw.
	sc.Step(`^tenant "([^"]*)" on the model node sends a chat completion:$`, func(alias string, doc *godog.DocString) error {
		id, err := s.tenantOn(alias, true)
		if err != nil {
			return err
		}
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {id}}
		return w.send(http.MethodPost, s.node.mpURL+"/v1/chat/completions", h, []byte(doc.Content))
	})
	sc.Step(`^the response status is (\d+)$`, func(status int) error {
		if w.status != status {
			return fmt.Errorf("status %d, want %d: %s", w.status, status, truncate(w.body))
		}
		return nil
	})
	sc.Step(`^the upstream received "([^"]*)" as (.+)$`, func(field, want string) error {
		last, ok := s.node.up1.Last()
		if !ok {
			return errors.New("the upstream received nothing")
		}
		var sent map[string]json.RawMessage
		if err := json.Unmarshal(last.Body, &sent); err != nil {
			return err
		}
		var got, exp any
		if err := json.Unmarshal(sent[field], &got); err != nil {
			return fmt.Errorf("field %s missing in %s", field, last.Body)
		}
		if err := json.Unmarshal([]byte(want), &exp); err != nil {
			return fmt.Errorf("expected value %s: %w", want, err)
		}
		g, _ := json.Marshal(got)
		x, _ := json.Marshal(exp)
		if string(g) != string(x) {
			return fmt.Errorf("upstream got %s = %s, want %s", field, g, x)
		}
		return nil
	})
	sc.Step(`^the upstreams? received no request$`, func() error {
		if n := s.node.up1.Count() + s.node.up2.Count(); n != 0 {
			return fmt.Errorf("the upstreams received %d requests", n)
		}
		return nil
	})
	sc.Step(`^the problem gives the reasons that tools "([^"]*)" and "([^"]*)" are not allowed$`, func(a, b string) error {
		var p struct {
			Detail string `json:"detail"`
			Errors []struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(w.body, &p); err != nil {
			return err
		}
		for _, tool := range []string{a, b} {
			want := fmt.Sprintf("tool %q is not allowed", tool)
			if !strings.Contains(p.Detail, want) || !slices.ContainsFunc(p.Errors, func(e struct {
				Field  string `json:"field"`
				Reason string `json:"reason"`
			}) bool {
				return e.Field == "policy" && strings.Contains(e.Reason, want)
			}) {
				return fmt.Errorf("problem %s lacks the reason %q", truncate(w.body), want)
			}
		}
		return nil
	})
	sc.Step(`^the problem has an OpenAI error message$`, func() error {
		var p struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.body, &p); err != nil || p.Error.Message == "" || p.Error.Type == "" {
			return fmt.Errorf("no error object in %s", truncate(w.body))
		}
		return nil
	})

	// Scripted upstream failures.
	behaviors := map[string]upstreamtest.Behavior{
		"answers 503":          {Status: 503},
		"hangs":                {Hang: true},
		"drops the connection": {Drop: true},
	}
	sc.Step(`^the first upstream (answers 503|hangs|drops the connection)( once)?$`, func(what, once string) error {
		if once != "" {
			s.node.up1.Then(behaviors[what])
			return nil
		}
		b := behaviors[what]
		b.Words = 3
		s.node.up1.SetDefault(b)
		return nil
	})
	sc.Step(`^the first upstream breaks streams after (\d+) chunks$`, func(n int) error {
		s.node.up1.SetDefault(upstreamtest.Behavior{Words: 10, DropAfterChunks: n})
		return nil
	})
	sc.Step(`^the upstreams report no usage$`, func() error {
		s.node.up1.SetDefault(upstreamtest.Behavior{Words: 7, NoUsage: true})
		return nil
	})
	sc.Step(`^the first upstream received (\d+) requests? and the second (\d+)$`, func(a, b int) error {
		if g1, g2 := s.node.up1.Count(), s.node.up2.Count(); g1 != int64(a) || g2 != int64(b) {
			return fmt.Errorf("upstreams received %d and %d requests, want %d and %d", g1, g2, a, b)
		}
		return nil
	})

	// API keys.
	sc.Step(`^an API key for tenant "([^"]*)"$`, func(alias string) error {
		c, err := w.mpClient(w.env.urls["modelpolicy"], mpCreds{admin: w.env.adminToken})
		if err != nil {
			return err
		}
		s.apiKeyTen = w.env.tenantID(alias)
		k, err := c.CreateApiKey(context.Background(), &modelpolicyapi.ApiKeyInput{Name: "scenario"}, modelpolicyapi.CreateApiKeyParams{TenantID: modelpolicyapi.TenantId(s.apiKeyTen)})
		if err != nil {
			return err
		}
		s.apiKey, s.apiKeyID = k.Key, k.ID
		return nil
	})
	sc.Step(`^an OpenAI client with that API key asks "([^"]*)" to complete "([^"]*)"$`, func(model, text string) error {
		c := openai.NewClient(option.WithBaseURL(w.env.urls["modelpolicy"]+"/v1/"), option.WithAPIKey(s.apiKey),
			option.WithMaxRetries(0), option.WithHTTPClient(w.httpClient()))
		return s.complete(c, model, text)
	})
	sc.Step(`^the API key is revoked$`, func() error {
		c, err := w.mpClient(w.env.urls["modelpolicy"], mpCreds{admin: w.env.adminToken})
		if err != nil {
			return err
		}
		return c.DeleteApiKey(context.Background(), modelpolicyapi.DeleteApiKeyParams{TenantID: modelpolicyapi.TenantId(s.apiKeyTen), KeyID: s.apiKeyID})
	})

	// Metrics.
	sc.Step(`^I fetch the metrics of the model node$`, func() error {
		resp, err := http.Get(s.node.mpURL + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		s.metrics = string(b)
		return err
	})
	sc.Step(`^the metrics have "([^"]*)" for deployment "([^"]*)"$`, func(series, deployment string) error {
		for _, line := range strings.Split(s.metrics, "\n") {
			if strings.HasPrefix(line, series+"{") && strings.Contains(line, `deployment="`+deployment+`"`) {
				return nil
			}
		}
		return fmt.Errorf("no %s series for deployment %s", series, deployment)
	})

	// Providers file.
	sc.Step(`^I start Model Policy with a providers file:$`, func(doc *godog.DocString) error {
		dir, err := os.MkdirTemp(w.env.tmpDir(), "providers")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "providers.yaml")
		if err := os.WriteFile(path, []byte(doc.Content), 0o600); err != nil {
			return err
		}
		cfg := config.Defaults()
		cfg.DataDir = dir
		cfg.ModelPolicyAddr = "127.0.0.1:0"
		cfg.AuditSink = "none"
		cfg.AdminToken = "adm_" + randomHex(16)
		cfg.ModelProvidersFile = path
		if err := cfg.Validate(); err != nil {
			return err
		}
		node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{Services: []string{platform.ModelPolicy}})
		if err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = node.Serve(ctx)
			return errors.New("the node started")
		}
		s.startErr = err
		return nil
	})
	sc.Step(`^the start fails with an error mentioning "([^"]*)"$`, func(want string) error {
		if s.startErr == nil || !strings.Contains(s.startErr.Error(), want) {
			return fmt.Errorf("start error %v, want one mentioning %q", s.startErr, want)
		}
		return nil
	})

	w.registerPolicySteps(sc, s)
	w.registerQuotaSteps(sc, s)
}

func (w *world) registerPolicySteps(sc *godog.ScenarioContext, s *mpState) {
	adminNode := func() (*modelpolicyapi.Client, error) {
		return w.mpClient(s.node.mpURL, mpCreds{admin: s.node.adminToken})
	}
	status := func() (*modelpolicyapi.PolicyStatus, error) {
		c, err := adminNode()
		if err != nil {
			return nil, err
		}
		return c.GetPolicyStatus(context.Background())
	}
	eventually := func(check func() error) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := check()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	sc.Step(`^I note the model node's policy revision$`, func() error {
		st, err := status()
		if err != nil {
			return err
		}
		s.noted = st.Revision
		return nil
	})
	sc.Step(`^a policy file that does not compile is added to the model node's policy directory$`, func() error {
		return os.WriteFile(filepath.Join(s.node.policyDir, "broken.rego"), []byte("package agentos.model\n\ndecision := {\n"), 0o600)
	})
	sc.Step(`^the broken policy file is removed$`, func() error {
		return os.Remove(filepath.Join(s.node.policyDir, "broken.rego"))
	})
	sc.Step(`^the model node's policy status soon reports an error mentioning "([^"]*)"$`, func(want string) error {
		return eventually(func() error {
			st, err := status()
			if err != nil {
				return err
			}
			if !strings.Contains(st.LastError.Or(""), want) {
				return fmt.Errorf("policy status error %q, want one mentioning %q", st.LastError.Or(""), want)
			}
			return nil
		})
	})
	sc.Step(`^the model node's policy status soon reports no error$`, func() error {
		return eventually(func() error {
			st, err := status()
			if err != nil {
				return err
			}
			if st.LastError.Set {
				return fmt.Errorf("policy status error %q", st.LastError.Value)
			}
			return nil
		})
	})
	sc.Step(`^the model node still serves the noted policy revision$`, func() error {
		st, err := status()
		if err != nil {
			return err
		}
		if st.Revision != s.noted {
			return fmt.Errorf("revision %s, want the noted %s", st.Revision, s.noted)
		}
		return nil
	})
	sc.Step(`^the model node's policy caps max_tokens at (\d+)$`, func(n int) error {
		before, err := status()
		if err != nil {
			return err
		}
		if err := s.node.writePolicy(n); err != nil {
			return err
		}
		return eventually(func() error {
			st, err := status()
			if err != nil {
				return err
			}
			if st.Revision == before.Revision {
				return errors.New("the policy change was not picked up")
			}
			return nil
		})
	})
	sc.Step(`^`+who+`( on the model node)? evaluates the policy for "([^"]*)" on "([^"]*)"(?: with tool "([^"]*)")?$`, func(whoText, node, op, model, tool string) error {
		alias := strings.Trim(strings.TrimPrefix(whoText, "tenant "), `"`)
		base, err := s.mpURL(onNode(node))
		if err != nil {
			return err
		}
		id, err := s.tenantOn(alias, onNode(node))
		if err != nil {
			return err
		}
		c, err := w.mpClient(base, mpCreds{tenant: id})
		if err != nil {
			return err
		}
		req := &modelpolicyapi.PolicyEvaluation{Operation: modelpolicyapi.PolicyEvaluationOperation(op), Model: modelpolicyapi.NewOptString(model)}
		if tool != "" {
			req.Tools = []string{tool}
		}
		s.decision, err = c.EvaluatePolicy(context.Background(), req)
		return err
	})
	sc.Step(`^the decision allows with a max_tokens obligation of (\d+) and a policy revision$`, func(n int) error {
		d := s.decision
		if !d.Allow || string(d.Obligations["max_tokens"]) != fmt.Sprint(n) || d.PolicyRevision == "" {
			return fmt.Errorf("decision %+v", d)
		}
		return nil
	})
	sc.Step(`^the decision denies because "(.*)"$`, func(want string) error {
		want = strings.ReplaceAll(want, `\"`, `"`)
		if s.decision.Allow || !slices.ContainsFunc(s.decision.Reasons, func(r string) bool { return strings.Contains(r, want) }) {
			return fmt.Errorf("decision %+v, want a deny because %q", s.decision, want)
		}
		return nil
	})
	sc.Step(`^tenant "([^"]*)" soon has an audit record "([^"]*)" with outcome "([^"]*)"( and the policy revision)?$`, func(alias, action, outcome, rev string) error {
		if !w.env.inProcess {
			return errors.New("reading audit records needs the in-process deployment")
		}
		id := w.env.tenantID(alias)
		return eventually(func() error {
			var rows []struct {
				Action  string `bun:"action"`
				Outcome string `bun:"outcome"`
				Detail  string `bun:"detail"`
			}
			if err := w.env.node.DB.NewRaw("SELECT action, outcome, detail FROM audit_records WHERE tenant_id = ? ORDER BY seq", id).Scan(context.Background(), &rows); err != nil {
				return err
			}
			for _, r := range rows {
				if r.Action != action || r.Outcome != outcome {
					continue
				}
				if rev == "" {
					return nil
				}
				var d map[string]any
				if err := json.Unmarshal([]byte(r.Detail), &d); err != nil {
					return err
				}
				if v, _ := d["policy_revision"].(string); len(v) == 16 && d["decision"] == "allow" {
					return nil
				}
				return fmt.Errorf("audit detail %s has no policy revision", r.Detail)
			}
			return fmt.Errorf("no %s record with outcome %s among %d", action, outcome, len(rows))
		})
	})

	// The CLI.
	sc.Step(`^I run agentos policy "([^"]*)"$`, func(args string) error {
		args = strings.ReplaceAll(args, "{policy_dir}", s.files["policy_dir"])
		args = strings.ReplaceAll(args, "{input}", s.files["input"])
		return w.runCLI(append([]string{"policy"}, strings.Fields(args)...), nil)
	})
	sc.Step(`^the command printed "(.*)"$`, func(want string) error {
		if !strings.Contains(w.cliOut, strings.ReplaceAll(want, `\"`, `"`)) {
			return fmt.Errorf("output lacks %q:\n%s", want, w.cliOut)
		}
		return nil
	})
	writeDir := func(files map[string]string) error {
		dir, err := os.MkdirTemp(w.env.tmpDir(), "policy")
		if err != nil {
			return err
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				return err
			}
		}
		s.files["policy_dir"] = dir
		return nil
	}
	sc.Step(`^a policy directory with a failing Rego test$`, func() error {
		rego, err := policy.Bundle.ReadFile("model.rego")
		if err != nil {
			return err
		}
		return writeDir(map[string]string{
			"model.rego":      string(rego),
			"model_test.rego": "package agentos.model_test\n\nimport data.agentos.model\n\ntest_passes if model.decision.allow with input as {\"tenant\": {\"id\": \"t\", \"known\": true}, \"model\": \"\", \"tools\": []}\n\ntest_fails if model.decision.allow with input as {\"tenant\": {\"id\": \"t\", \"known\": false}, \"model\": \"\", \"tools\": []}\n",
		})
	})
	sc.Step(`^a policy directory whose decision is undefined$`, func() error {
		return writeDir(map[string]string{"model.rego": "package agentos.model\n\ndecision := {\"allow\": true, \"reasons\": [], \"obligations\": {}} if input.tenant.id == \"only-this-one\"\n"})
	})
	sc.Step(`^a policy input file:$`, func(doc *godog.DocString) error {
		f, err := os.CreateTemp(w.env.tmpDir(), "input-*.json")
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(doc.Content); err != nil {
			return err
		}
		s.files["input"] = f.Name()
		return nil
	})
}

func (w *world) registerQuotaSteps(sc *godog.ScenarioContext, s *mpState) {
	sc.Step(`^a tenant "([^"]*)" exists with an invocation rate of (\d+) per second$`, func(alias string, n int) error {
		return w.putTenant(w.env.tenantID(alias), "", nil, &orchestratorapi.TenantQuotas{InvokeQPS: orchestratorapi.NewOptInt32(int32(n))})
	})
	sc.Step(`^a tenant "([^"]*)" exists with (\d+) tokens per minute$`, func(alias string, n int) error {
		return w.putTenant(w.env.tenantID(alias), "", nil, &orchestratorapi.TenantQuotas{TokensPerMinute: orchestratorapi.NewOptInt64(int64(n))})
	})
	chat := func(tenantID, body string) (int, http.Header, []byte, error) {
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {tenantID}}
		if err := w.send(http.MethodPost, w.env.urls["modelpolicy"]+"/v1/chat/completions", h, []byte(body)); err != nil {
			return 0, nil, nil, err
		}
		return w.status, w.header, w.body, nil
	}
	sc.Step(`^tenant "([^"]*)" sends (\d+) chat completions to "([^"]*)" in a row$`, func(alias string, n int, model string) error {
		s.codes, s.headers = nil, nil
		for range n {
			code, h, _, err := chat(w.env.tenantID(alias), `{"model":"`+model+`","messages":[{"role":"user","content":"x"}]}`)
			if err != nil {
				return err
			}
			s.codes = append(s.codes, code)
			s.headers = append(s.headers, h)
		}
		return nil
	})
	sc.Step(`^at least one was a 429 problem with code "([^"]*)" and a Retry-After header$`, func(code string) error {
		for i, c := range s.codes {
			if c == http.StatusTooManyRequests {
				if s.headers[i].Get("Retry-After") == "" {
					return errors.New("429 without Retry-After")
				}
				return nil
			}
		}
		return fmt.Errorf("statuses %v, want a 429", s.codes)
	})
	sc.Step(`^tenant "([^"]*)" sends chat completions to "([^"]*)" with max_tokens (\d+) until one is refused$`, func(alias, model string, maxTokens int) error {
		for attempt := 0; attempt < 3; attempt++ {
			minute := time.Now().Truncate(time.Minute)
			s.accepted, s.refusedHdr = 0, nil
			for range 50 {
				code, h, body, err := chat(w.env.tenantID(alias), fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":"a b c"}]}`, model, maxTokens))
				if err != nil {
					return err
				}
				if code == http.StatusTooManyRequests {
					s.refusedHdr, s.refusedOut = h, body
					break
				}
				if code != 200 {
					return fmt.Errorf("status %d: %s", code, truncate(body))
				}
				var c openai.ChatCompletion
				if err := json.Unmarshal(body, &c); err != nil {
					return err
				}
				s.accepted += c.Usage.TotalTokens
			}
			if time.Now().Truncate(time.Minute).Equal(minute) {
				return nil
			}
			// The run straddled two quota windows; wait for the new one to fill up first.
			time.Sleep(time.Second)
		}
		return errors.New("could not run within one quota window")
	})
	sc.Step(`^the refused call was a 429 problem with code "([^"]*)" and a Retry-After header$`, func(code string) error {
		if s.refusedHdr == nil {
			return errors.New("no call was refused")
		}
		if s.refusedHdr.Get("Retry-After") == "" || !strings.Contains(string(s.refusedOut), `"code":"`+code+`"`) {
			return fmt.Errorf("refusal %v %s", s.refusedHdr, s.refusedOut)
		}
		return nil
	})
	sc.Step(`^the accepted calls used at most (\d+) tokens$`, func(limit int) error {
		if s.accepted <= 0 || s.accepted > int64(limit) {
			return fmt.Errorf("accepted %d tokens, want 1..%d", s.accepted, limit)
		}
		return nil
	})
	usageOf := func(base, tenantID, window string) (*modelpolicyapi.UsageReport, error) {
		c, err := w.mpClient(base, mpCreds{tenant: tenantID})
		if err != nil {
			return nil, err
		}
		return c.GetUsage(context.Background(), modelpolicyapi.GetUsageParams{Window: modelpolicyapi.NewOptGetUsageWindow(modelpolicyapi.GetUsageWindow(window))})
	}
	eventually := func(check func() error) error {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := check()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	sc.Step(`^the usage of tenant "([^"]*)" by "([^"]*)" soon shows (\d+) requests? of "([^"]*)" with (\d+) completion tokens$`, func(alias, window string, n int, model string, tokens int) error {
		return eventually(func() error {
			rep, err := usageOf(w.env.urls["modelpolicy"], w.env.tenantID(alias), window)
			if err != nil {
				return err
			}
			if len(rep.Buckets) != 1 || rep.Buckets[0].Model != model || rep.Buckets[0].Requests != int64(n) || rep.Buckets[0].CompletionTokens != int64(tokens) {
				return fmt.Errorf("usage %+v", rep.Buckets)
			}
			return nil
		})
	})
	sc.Step(`^the usage of tenant "([^"]*)" by "([^"]*)" is empty$`, func(alias, window string) error {
		rep, err := usageOf(w.env.urls["modelpolicy"], w.env.tenantID(alias), window)
		if err != nil {
			return err
		}
		if len(rep.Buckets) != 0 || rep.Totals.Requests != 0 {
			return fmt.Errorf("usage %+v", rep)
		}
		return nil
	})
	sc.Step(`^the usage of tenant "([^"]*)" on the model node soon shows "([^"]*)" with estimated, non-zero tokens$`, func(alias, model string) error {
		return eventually(func() error {
			rep, err := usageOf(s.node.mpURL, w.env.tenantID(alias), "minute")
			if err != nil {
				return err
			}
			for _, b := range rep.Buckets {
				if b.Model == model && b.Estimated && b.EstimatedRequests == 1 && b.CompletionTokens > 0 && b.PromptTokens > 0 {
					return nil
				}
			}
			return fmt.Errorf("usage %+v", rep.Buckets)
		})
	})
}
