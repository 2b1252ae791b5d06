package provider

import (
	"github.com/go-faster/jx"
)

// ParseUsage reads the top-level "usage" object of an OpenAI response or stream chunk.
// A missing, null or malformed usage, or one whose total is zero, is not Present.
func ParseUsage(body []byte) Usage {
	var u Usage
	d := jx.DecodeBytes(body)
	_ = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if string(key) != "usage" || d.Next() != jx.Object {
			return d.Skip()
		}
		return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
			if d.Next() != jx.Number {
				return d.Skip()
			}
			n, err := d.Int64()
			if err != nil {
				return err
			}
			switch string(key) {
			case "prompt_tokens":
				u.PromptTokens = n
			case "completion_tokens":
				u.CompletionTokens = n
			case "total_tokens":
				u.TotalTokens = n
			}
			return nil
		})
	})
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	u.Present = u.TotalTokens > 0
	return u
}

// ChunkInfo is what the gateway needs from one streamed chat chunk.
type ChunkInfo struct {
	// Usage is the chunk's usage, if it carries one.
	Usage Usage
	// UsageOnly is true for the chunk include_usage adds: no choices, a usage.
	UsageOnly bool
	// ContentBytes counts the bytes of generated text and tool-call arguments in the
	// chunk's deltas, for estimating usage when the upstream reports none.
	ContentBytes int
}

// InspectChunk reads a chat completion chunk.
func InspectChunk(data []byte) ChunkInfo {
	var info ChunkInfo
	choices := -1
	d := jx.DecodeBytes(data)
	_ = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "usage":
			if d.Next() != jx.Object {
				return d.Skip()
			}
			raw, err := d.Raw()
			if err != nil {
				return err
			}
			info.Usage = ParseUsage(append(append([]byte(`{"usage":`), raw...), '}'))
			return nil
		case "choices":
			if d.Next() != jx.Array {
				return d.Skip()
			}
			choices = 0
			return d.Arr(func(d *jx.Decoder) error {
				choices++
				return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
					if string(key) != "delta" || d.Next() != jx.Object {
						return d.Skip()
					}
					info.ContentBytes += deltaBytes(d)
					return nil
				})
			})
		}
		return d.Skip()
	})
	info.UsageOnly = choices == 0 && info.Usage.Present
	return info
}

// deltaBytes counts content and tool-call argument bytes in a delta object.
func deltaBytes(d *jx.Decoder) int {
	n := 0
	_ = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "content", "reasoning_content", "refusal":
			if d.Next() != jx.String {
				return d.Skip()
			}
			s, err := d.StrBytes()
			n += len(s)
			return err
		case "tool_calls":
			if d.Next() != jx.Array {
				return d.Skip()
			}
			return d.Arr(func(d *jx.Decoder) error {
				return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
					if string(key) != "function" || d.Next() != jx.Object {
						return d.Skip()
					}
					return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
						if (string(key) != "arguments" && string(key) != "name") || d.Next() != jx.String {
							return d.Skip()
						}
						s, err := d.StrBytes()
						n += len(s)
						return err
					})
				})
			})
		}
		return d.Skip()
	})
	return n
}

// EstimateTokens estimates the tokens of n bytes of text: one per four bytes, at least
// one. It is the estimate the gateway records (marked estimated) when an upstream
// reports no usage.
func EstimateTokens(n int) int64 {
	if n <= 0 {
		return 1
	}
	return int64((n + 3) / 4)
}

// ResponseContentBytes counts the bytes of generated text and tool-call arguments in a
// non-streaming chat completion, for estimating usage when the upstream reports none.
func ResponseContentBytes(body []byte) int {
	n := 0
	d := jx.DecodeBytes(body)
	_ = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if string(key) != "choices" || d.Next() != jx.Array {
			return d.Skip()
		}
		return d.Arr(func(d *jx.Decoder) error {
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				if string(key) != "message" || d.Next() != jx.Object {
					return d.Skip()
				}
				n += deltaBytes(d)
				return nil
			})
		})
	})
	return n
}
