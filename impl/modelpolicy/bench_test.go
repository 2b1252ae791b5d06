package modelpolicy_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkGatewayCall measures one non-streaming chat completion, one at a time,
// straight to the test upstream and through the gateway: the difference is the gateway's
// cost per call without load (the load figures are tools/mpbench's).
func BenchmarkGatewayCall(b *testing.B) {
	bundle := setup(b, setupOpts{})
	body := []byte(`{"model":"up-chat","messages":[{"role":"system","content":"You are a benchmark."},{"role":"user","content":"Say eight words, please."}]}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	call := func(b *testing.B, url string, h http.Header) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("direct", func(b *testing.B) {
		h := http.Header{"Content-Type": {"application/json"}}
		b.ReportAllocs()
		for b.Loop() {
			call(b, bundle.up.BaseURL()+"/chat/completions", h)
		}
	})
	b.Run("gateway", func(b *testing.B) {
		h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {bundle.tenant}}
		b.ReportAllocs()
		for b.Loop() {
			call(b, bundle.srv.URL+"/v1/chat/completions", h)
		}
	})
}

// BenchmarkGatewayStream measures one streamed chat completion (the test upstream's
// eight words with usage) through the gateway, one at a time, read to its end.
func BenchmarkGatewayStream(b *testing.B) {
	bundle := setup(b, setupOpts{})
	body := []byte(`{"model":"up-chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say eight words, please."}]}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	h := http.Header{"Content-Type": {"application/json"}, "X-Tenant-Id": {bundle.tenant}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, bundle.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		req.Header = h
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.HasSuffix(got, []byte("data: [DONE]\n\n")) {
			b.Fatalf("status %d: %s", resp.StatusCode, got)
		}
	}
}
