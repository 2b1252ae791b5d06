package policyeval

import (
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

// cacheKey is an unambiguous encoding of every input field: strings are length-prefixed,
// labels sorted.
func (in Input) cacheKey() string {
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
	str(in.Tenant.ID)
	flag(in.Tenant.Known)
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
	str(in.Principal.ID)
	num(int64(len(in.Principal.Roles)))
	for _, r := range in.Principal.Roles {
		str(r)
	}
	str(in.Principal.Auth)
	str(in.Operation)
	str(in.Model)
	num(int64(len(in.Tools)))
	for _, t := range in.Tools {
		str(t)
	}
	num(in.EstimatedTokens)
	num(in.MaxTokens)
	flag(in.Stream)
	return b.String()
}
