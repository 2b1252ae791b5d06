package worker

import (
	"errors"
	"io"

	"github.com/go-faster/jx"
)

// streamChunk is what the agent loop reads of one chat.completion.chunk of Model
// Policy's stream; every other member is skipped.
type streamChunk struct {
	choices []chunkChoice
	usage   *usage
	errMsg  *string // an {"error": {...}} event: the stream broke
}

type chunkChoice struct {
	content   string
	toolCalls []chunkToolCall
	finish    *string
}

type chunkToolCall struct {
	index          int
	id, name, args string
}

// decodeChunk decodes a stream event's data. It reads what encoding/json would read
// into the equivalent struct, with jx: the stream's events are most of a worker's JSON.
func decodeChunk(data []byte) (streamChunk, error) {
	var c streamChunk
	d := jx.DecodeBytes(data)
	err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if d.Next() == jx.Null {
			return d.Null()
		}
		switch string(key) {
		case "choices":
			c.choices = c.choices[:0]
			return d.Arr(func(d *jx.Decoder) error {
				var ch chunkChoice
				err := decodeChoice(d, &ch)
				c.choices = append(c.choices, ch)
				return err
			})
		case "usage":
			u := new(usage)
			c.usage = u
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				switch string(key) {
				case "prompt_tokens":
					return decodeInt64(d, &u.PromptTokens)
				case "completion_tokens":
					return decodeInt64(d, &u.CompletionTokens)
				}
				return d.Skip()
			})
		case "error":
			msg := ""
			c.errMsg = &msg
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				if string(key) == "message" {
					return decodeString(d, &msg)
				}
				return d.Skip()
			})
		}
		return d.Skip()
	})
	if err == nil && d.Skip() != io.EOF {
		err = errors.New("data after the chunk's object")
	}
	return c, err
}

func decodeChoice(d *jx.Decoder, ch *chunkChoice) error {
	return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "delta":
			if d.Next() == jx.Null {
				return d.Null()
			}
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				switch string(key) {
				case "content":
					return decodeString(d, &ch.content)
				case "tool_calls":
					if d.Next() == jx.Null {
						return d.Null()
					}
					ch.toolCalls = ch.toolCalls[:0]
					return d.Arr(func(d *jx.Decoder) error {
						var tc chunkToolCall
						err := decodeToolCall(d, &tc)
						ch.toolCalls = append(ch.toolCalls, tc)
						return err
					})
				}
				return d.Skip()
			})
		case "finish_reason":
			if d.Next() == jx.Null {
				ch.finish = nil
				return d.Null()
			}
			s, err := d.Str()
			ch.finish = &s
			return err
		}
		return d.Skip()
	})
}

func decodeToolCall(d *jx.Decoder, tc *chunkToolCall) error {
	if d.Next() == jx.Null {
		return d.Null()
	}
	return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "index":
			if d.Next() == jx.Null {
				return d.Null()
			}
			n, err := d.Int()
			tc.index = n
			return err
		case "id":
			return decodeString(d, &tc.id)
		case "function":
			if d.Next() == jx.Null {
				return d.Null()
			}
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				switch string(key) {
				case "name":
					return decodeString(d, &tc.name)
				case "arguments":
					return decodeString(d, &tc.args)
				}
				return d.Skip()
			})
		}
		return d.Skip()
	})
}

// decodeString and decodeInt64 leave dst as it is for a null, as encoding/json does.
func decodeString(d *jx.Decoder, dst *string) error {
	if d.Next() == jx.Null {
		return d.Null()
	}
	s, err := d.Str()
	if err == nil {
		*dst = s
	}
	return err
}

func decodeInt64(d *jx.Decoder, dst *int64) error {
	if d.Next() == jx.Null {
		return d.Null()
	}
	n, err := d.Int64()
	if err == nil {
		*dst = n
	}
	return err
}
