package policyeval

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// decisionCacheSize bounds the decisions kept per bundle revision.
const decisionCacheSize = 8192

// decisionCache keeps decisions by input key. When full it starts over: simple, bounded,
// and cheap enough for the request path.
type decisionCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]Decision
}

func newDecisionCache(max int) *decisionCache {
	return &decisionCache{max: max, m: make(map[string]Decision, 64)}
}

func (c *decisionCache) get(key string) (Decision, bool) {
	c.mu.RLock()
	d, ok := c.m[key]
	c.mu.RUnlock()
	return d, ok
}

func (c *decisionCache) put(key string, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = make(map[string]Decision, 64)
	}
	c.m[key] = d
}

// inputFields says which input fields a bundle reads; a decision depends on nothing
// else (given the bundle's data and deterministic built-ins).
type inputFields struct {
	tenantID, tenantKnown, tenantLabels        bool
	principalID, principalRoles, principalAuth bool
	operation, model, tools                    bool
	estimatedTokens, maxTokens, stream         bool
	// tool covers the whole tool object (a tool.call decision reads most of it).
	tool, runID, agentID bool
}

var allInputFields = inputFields{true, true, true, true, true, true, true, true, true, true, true, true, true, true, true}

// InputFields returns the input fields the bundle's modules refer to. A reference to
// the whole input, to a whole top-level object (input.tenant), or through a variable
// (input[x]) counts as reading everything under it.
func (b *Bundle) InputFields() inputFields {
	var f inputFields
	all := false
	for _, m := range b.Modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if len(r) == 0 || !r[0].Equal(ast.InputRootDocument) {
				return false
			}
			if len(r) == 1 {
				all = true
				return false
			}
			top, ok := r[1].Value.(ast.String)
			if !ok {
				all = true
				return false
			}
			sub := ""
			if len(r) > 2 {
				if s, ok := r[2].Value.(ast.String); ok {
					sub = string(s)
				} else {
					sub = "*"
				}
			}
			switch string(top) {
			case "tenant":
				f.tenantID = f.tenantID || sub == "" || sub == "*" || sub == "id"
				f.tenantKnown = f.tenantKnown || sub == "" || sub == "*" || sub == "known"
				f.tenantLabels = f.tenantLabels || sub == "" || sub == "*" || sub == "labels"
			case "principal":
				f.principalID = f.principalID || sub == "" || sub == "*" || sub == "id"
				f.principalRoles = f.principalRoles || sub == "" || sub == "*" || sub == "roles"
				f.principalAuth = f.principalAuth || sub == "" || sub == "*" || sub == "auth"
			case "operation":
				f.operation = true
			case "model":
				f.model = true
			case "tools":
				f.tools = true
			case "estimated_tokens":
				f.estimatedTokens = true
			case "max_tokens":
				f.maxTokens = true
			case "stream":
				f.stream = true
			case "tool":
				f.tool = true
			case "run_id":
				f.runID = true
			case "agent_id":
				f.agentID = true
			}
			return false
		})
	}
	if all {
		return allInputFields
	}
	return f
}

// cacheKey is an unambiguous encoding of the input fields f names: every field has a
// slot (empty when not read), strings are length-prefixed, labels sorted.
func (in Input) cacheKey(f inputFields) string {
	var b strings.Builder
	b.Grow(128)
	str := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	num := func(n int64) {
		b.WriteString(strconv.FormatInt(n, 10))
		b.WriteByte(';')
	}
	flag := func(v bool) {
		if v {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	if f.tenantID {
		str(in.Tenant.ID)
	}
	b.WriteByte('|')
	if f.tenantKnown {
		flag(in.Tenant.Known)
	}
	b.WriteByte('|')
	if f.tenantLabels {
		keys := make([]string, 0, len(in.Tenant.Labels))
		for k := range in.Tenant.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		num(int64(len(keys)))
		for _, k := range keys {
			str(k)
			str(in.Tenant.Labels[k])
		}
	}
	b.WriteByte('|')
	if f.principalID {
		str(in.Principal.ID)
	}
	b.WriteByte('|')
	if f.principalRoles {
		num(int64(len(in.Principal.Roles)))
		for _, r := range in.Principal.Roles {
			str(r)
		}
	}
	b.WriteByte('|')
	if f.principalAuth {
		str(in.Principal.Auth)
	}
	b.WriteByte('|')
	if f.operation {
		str(in.Operation)
	}
	b.WriteByte('|')
	if f.model {
		str(in.Model)
	}
	b.WriteByte('|')
	if f.tools {
		num(int64(len(in.Tools)))
		for _, t := range in.Tools {
			str(t)
		}
	}
	b.WriteByte('|')
	if f.estimatedTokens {
		num(in.EstimatedTokens)
	}
	b.WriteByte('|')
	if f.maxTokens {
		num(in.MaxTokens)
	}
	b.WriteByte('|')
	if f.stream {
		flag(in.Stream)
	}
	b.WriteByte('|')
	if f.tool {
		t := in.Tool
		for _, s := range []string{t.Name, t.Type, t.Server, t.URL, t.Scheme, t.Host} {
			str(s)
		}
		num(int64(t.Port))
	}
	b.WriteByte('|')
	if f.runID {
		str(in.RunID)
	}
	b.WriteByte('|')
	if f.agentID {
		str(in.AgentID)
	}
	return b.String()
}
