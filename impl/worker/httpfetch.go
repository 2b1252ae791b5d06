package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nexixai/agentos/internal/netguard"
)

// http_fetch fetches one http(s) URL for the model. Model Policy decides every request
// of it: the URL first (in callTool) and every redirect target again, each decision
// giving the limits the fetch must keep (obligations allow_internal, max_bytes,
// timeout_ms). Connections go through internal/netguard, which refuses internal
// addresses on the address actually dialled (after DNS) unless the decision allows them.

const httpFetchSchema = `{"type":"object","properties":{` +
	`"url":{"type":"string","minLength":1,"maxLength":8192,"description":"An http or https URL."},` +
	`"method":{"type":"string","enum":["GET","HEAD"],"description":"GET (default) or HEAD."},` +
	`"headers":{"type":"object","maxProperties":32,"additionalProperties":{"type":"string","maxLength":4096},"description":"Request headers."}},` +
	`"required":["url"],"additionalProperties":false}`

// maxRedirects bounds the redirects one fetch follows.
const maxRedirects = 5

// forbiddenFetchHeaders are request headers a model may not set: they would change
// where or how the request goes, not what it asks.
var forbiddenFetchHeaders = map[string]bool{
	"Host": true, "Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Te": true,
	"Trailer": true, "Upgrade": true, "Proxy-Authorization": true, "Proxy-Connection": true, "Keep-Alive": true,
}

type httpFetchArgs struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

// fetchURL parses the URL a fetch may request: absolute, http or https, with a host.
func fetchURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("http_fetch: the url does not parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("http_fetch: only http and https URLs can be fetched, not %q", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("http_fetch: the url %q has no host", raw)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// httpFetchURL returns the URL an http_fetch call asks for, as it will be requested, or
// "" when its arguments name none that can be fetched (the fetch then fails on it).
func httpFetchURL(arguments string) string {
	var args httpFetchArgs
	if json.Unmarshal([]byte(validJSON(arguments)), &args) != nil {
		return ""
	}
	u, err := fetchURL(args.URL)
	if err != nil {
		return args.URL
	}
	return u.String()
}

// limits are what a decision lets one request of a fetch do.
type limits struct {
	allowInternal bool
	maxBytes      int64
	timeout       time.Duration
}

// fetchLimits reads a decision's http_fetch obligations. A decision without byte and
// time limits (a policy written before http_fetch) is not one the worker can keep, so
// the fetch is refused.
func fetchLimits(g grant) (limits, error) {
	maxBytes, okBytes := g.positive("max_bytes")
	ms, okTime := g.positive("timeout_ms")
	if !okBytes || !okTime {
		return limits{}, errors.New("http_fetch refused: the policy's decision sets no max_bytes and timeout_ms obligations (is the bundle's tool.rego missing?)")
	}
	return limits{allowInternal: g.boolean("allow_internal"), maxBytes: maxBytes, timeout: time.Duration(ms) * time.Millisecond}, nil
}

// httpFetch runs an http_fetch call that Model Policy allowed with first.
func (rs *runState) httpFetch(arguments string, first grant) (string, error) {
	var args httpFetchArgs
	if err := json.Unmarshal([]byte(validJSON(arguments)), &args); err != nil {
		return "", fmt.Errorf("http_fetch arguments: %w", err)
	}
	method := args.Method
	if method == "" {
		method = http.MethodGet
	}
	if method != http.MethodGet && method != http.MethodHead {
		return "", fmt.Errorf("http_fetch: method %q is not allowed (GET or HEAD)", method)
	}
	header := http.Header{}
	for k, v := range args.Headers {
		k = http.CanonicalHeaderKey(k)
		if forbiddenFetchHeaders[k] || strings.HasPrefix(k, "Proxy-") {
			return "", fmt.Errorf("http_fetch: header %q cannot be set", k)
		}
		header.Set(k, v)
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", "AgentOS-http_fetch/1")
	}
	u, err := fetchURL(args.URL)
	if err != nil {
		return "", err
	}
	lim, err := fetchLimits(first)
	if err != nil {
		return "", err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(rs.ctx, lim.timeout)
	defer cancel()
	for hop := 0; ; hop++ {
		resp, err := rs.fetchOnce(ctx, method, u, header, lim)
		if err != nil {
			return "", fetchError(u, lim, start, err)
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			defer resp.Body.Close()
			return fetchResult(method, u, hop, resp, lim.maxBytes)
		}
		resp.Body.Close()
		if hop == maxRedirects {
			return "", fmt.Errorf("http_fetch: stopped after %d redirects (at %s)", maxRedirects, u.Redacted())
		}
		next, err := u.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("http_fetch: %s redirects to an unreadable location %q", u.Redacted(), loc)
		}
		if next, err = fetchURL(next.String()); err != nil {
			return "", fmt.Errorf("http_fetch: %s redirects to %s: %w", u.Redacted(), loc, err)
		}
		g, err := rs.authorize("http_fetch", next.String())
		if err != nil {
			return "", fmt.Errorf("http_fetch: redirect from %s refused: %w", u.Redacted(), err)
		}
		hopLim, err := fetchLimits(g)
		if err != nil {
			return "", err
		}
		// The redirect's own decision governs its request; the fetch's deadline only shrinks.
		lim.allowInternal, lim.maxBytes = hopLim.allowInternal, hopLim.maxBytes
		if d := start.Add(hopLim.timeout); d.Before(start.Add(lim.timeout)) {
			lim.timeout = hopLim.timeout
			var c context.CancelFunc
			ctx, c = context.WithDeadline(ctx, d)
			defer c()
		}
		if next.Host != u.Host {
			header.Del("Authorization")
			header.Del("Cookie")
		}
		u = next
	}
}

// fetchOnce sends one request without following redirects.
func (rs *runState) fetchOnce(ctx context.Context, method string, u *url.URL, header http.Header, lim limits) (*http.Response, error) {
	c := netguard.Client(netguard.Options{AllowInternal: lim.allowInternal, Timeout: lim.timeout})
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header = header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		c.CloseIdleConnections()
		return nil, err
	}
	resp.Body = closeWith(resp.Body, c.CloseIdleConnections)
	return resp, nil
}

type bodyCloser struct {
	io.Reader
	close func() error
}

func (b bodyCloser) Close() error { return b.close() }

func closeWith(body io.ReadCloser, after func()) io.ReadCloser {
	return bodyCloser{Reader: body, close: func() error {
		err := body.Close()
		after()
		return err
	}}
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// fetchError says why a request failed in words the model can act on.
func fetchError(u *url.URL, lim limits, start time.Time, err error) error {
	switch {
	case errors.Is(err, netguard.ErrForbidden):
		return fmt.Errorf("http_fetch refused %s: it resolves to an internal address (loopback, private or link-local), and the policy does not allow internal targets (%v)", u.Redacted(), err)
	case errors.Is(err, context.DeadlineExceeded) || time.Since(start) >= lim.timeout:
		return fmt.Errorf("http_fetch of %s timed out after %s", u.Redacted(), lim.timeout)
	}
	return fmt.Errorf("http_fetch of %s failed: %w", u.Redacted(), err)
}

// fetchResult is the response as the model reads it: status, content type, final URL
// after redirects, and the body as text, cut at maxBytes (and saying so).
func fetchResult(method string, u *url.URL, hops int, resp *http.Response, maxBytes int64) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", resp.Status)
	ct := resp.Header.Get("Content-Type")
	if ct != "" {
		fmt.Fprintf(&b, "content-type: %s\n", ct)
	}
	if hops > 0 {
		fmt.Fprintf(&b, "url: %s (after %d redirects)\n", u.Redacted(), hops)
	}
	if method == http.MethodHead {
		return b.String(), nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("http_fetch of %s: read the body: %w", u.Redacted(), err)
	}
	truncated := int64(len(body)) > maxBytes
	if truncated {
		body = body[:maxBytes]
	}
	if !textual(ct, body) {
		more := ""
		if truncated {
			more = " or more"
		}
		fmt.Fprintf(&b, "\n(%d bytes%s of non-text content, not shown)", len(body), more)
		return b.String(), nil
	}
	if truncated {
		for i := 0; i < utf8.UTFMax-1 && len(body) > 0; i++ { // do not end inside a character
			if r, size := utf8.DecodeLastRune(body); r != utf8.RuneError || size != 1 {
				break
			}
			body = body[:len(body)-1]
		}
		fmt.Fprintf(&b, "truncated: the body is longer than the policy's limit of %d bytes; only its start is shown\n", maxBytes)
	}
	b.WriteString("\n")
	b.WriteString(strings.ToValidUTF8(string(body), "\uFFFD"))
	return b.String(), nil
}

// textual reports whether a body of content type ct is text to show the model.
func textual(ct string, body []byte) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return utf8.Valid(body) && !strings.ContainsRune(string(body), 0)
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/ecmascript",
		"application/x-www-form-urlencoded", "application/yaml", "application/x-yaml", "application/toml", "application/x-ndjson":
		return true
	}
	return false
}
